import { z } from "zod";
import { checkJsonText, jsonVerdictMessage } from "../../companion-services/platform/http/json-guard.ts";

/**
 * The Nova sync-over-WebSocket wire protocol, version 1 (docs/sync-protocol.md). Frames are JSON
 * text frames; this module holds their schemas, the close codes and the limits, shared by the
 * server (sync/ws) and the client library (sync/client).
 */
export const PROTOCOL_VERSION = 1;
/** The subprotocol a client must offer; the server echoes it back. */
export const SUBPROTOCOL = "nova.sync.v1";
/** Prefix of the optional subprotocol that carries the access token (base64url after it). */
export const TOKEN_SUBPROTOCOL_PREFIX = "nova.token.";
/** The one endpoint, on the homeserver port. */
export const WS_PATH = "/_matrix/client/unstable/org.nova.sync/ws";

/** Close codes. 1xxx are the RFC 6455 ones Nova uses; 4xxx are Nova's own. */
export const CloseCode = {
  /** Client or server ended the session normally. */
  normal: 1000,
  /** Frame over `Limits.maxFrameBytes` (an error frame M_TOO_LARGE precedes it). */
  tooBig: 1009,
  /** The server is shutting down or restarting: reconnect (to any replica) and resume. */
  serviceRestart: 1012,
  /** No valid auth frame within the auth timeout. */
  authTimeout: 4000,
  /** The access token is unknown, expired, or its device was logged out. Do not retry with it. */
  unknownToken: 4001,
  /** Too many malformed or refused frames. */
  abuse: 4002,
  /** Slow consumer: the send buffer stayed over the limit. Reconnect and resume from your token. */
  slowConsumer: 4003,
  /** No frame (not even a pong) within the idle timeout. */
  idle: 4004,
} as const;

/** Close codes after which a client should reconnect and resume (anything but these two). */
export const FATAL_CLOSE_CODES: ReadonlySet<number> = new Set([CloseCode.unknownToken, CloseCode.abuse]);

export const Limits = {
  /** Largest client frame, bytes; bigger frames get M_TOO_LARGE and a 1009 close. */
  maxFrameBytes: 1024 * 1024 + 16 * 1024,
  /** Frames above this are cut off by uWS without reading them (the client sees 1006). */
  hardFrameBytes: 4 * (1024 * 1024 + 16 * 1024),
  /** A socket must authenticate within this many ms. */
  authTimeoutMs: 5_000,
  /** Malformed/refused frames tolerated per minute before closing with 4002. */
  abusePerMinute: 10,
  /** Requests a socket may have in flight at once; more are refused with M_LIMIT_EXCEEDED. */
  maxInFlightRequests: 64,
  /** Buffered bytes above which deltas are held back and coalesced. */
  coalesceAboveBytes: 256 * 1024,
  /** If the buffer stays above the coalescing mark this long, the socket is closed with 4003. */
  slowConsumerMs: 10_000,
  /** uWS backpressure limit: a frame sent above it is dropped by uWS, so the socket is closed with 4003. */
  maxBufferedBytes: 64 * 1024 * 1024,
  /** Seconds without any frame before the socket is closed (the server pings well before). */
  idleTimeoutSeconds: 120,
} as const;

const id = z.string().min(1).max(128);
const filter = z.union([z.string().min(1).max(256), z.record(z.string(), z.unknown())]);

export const authFrame = z.object({ type: z.literal("auth"), access_token: z.string().min(1).max(4096) });
export const subscribeFrame = z.object({
  type: z.literal("subscribe"),
  /** A next_batch from /sync or from this socket; absent/null for an initial sync. */
  since: z.string().max(256).nullish(),
  filter: filter.optional(),
  full_state: z.boolean().optional(),
  /** As /sync's `set_presence`: the presence the open subscription keeps (default online). */
  set_presence: z.enum(["online", "offline", "unavailable"]).optional(),
});
export const ackFrame = z.object({ type: z.literal("ack"), next_batch: z.string().min(1).max(256) });
export const pingFrame = z.object({ type: z.literal("ping"), id: id.optional() });

/** Any Client-Server API call, dispatched in-process through the homeserver's router. */
export const requestFrame = z.object({
  type: z.literal("request"),
  id,
  method: z.enum(["GET", "POST", "PUT", "DELETE"]),
  /** Path with optional query string, e.g. `/_matrix/client/v3/rooms/!r:x/messages?dir=b`. */
  path: z.string().startsWith("/_matrix/").max(8192),
  body: z.unknown().optional(),
});
export const sendFrame = z.object({
  type: z.literal("send"),
  id,
  room_id: z.string().min(1).max(255),
  event_type: z.string().min(1).max(255),
  txn_id: z.string().min(1).max(255),
  content: z.record(z.string(), z.unknown()),
});
export const sendToDeviceFrame = z.object({
  type: z.literal("send_to_device"),
  id,
  event_type: z.string().min(1).max(255),
  txn_id: z.string().min(1).max(255),
  messages: z.record(z.string(), z.record(z.string(), z.record(z.string(), z.unknown()))),
});
export const typingFrame = z.object({
  type: z.literal("typing"),
  id,
  room_id: z.string().min(1).max(255),
  typing: z.boolean(),
  timeout: z.number().int().nonnegative().max(600_000).optional(),
});
export const receiptFrame = z.object({
  type: z.literal("receipt"),
  id,
  room_id: z.string().min(1).max(255),
  receipt_type: z.string().min(1).max(255).default("m.read"),
  event_id: z.string().min(1).max(255),
  thread_id: z.string().min(1).max(255).optional(),
});
/**
 * Starts (or replaces) the socket's sliding sync subscription (MSC4186). `pos` absent: continue
 * from the last response this socket pushed for the same conn_id (a new connection if none);
 * null: a new connection; a string: resume from that pos (e.g. after a reconnect).
 */
export const slidingSyncFrame = z.object({
  type: z.literal("sliding_sync"),
  id,
  /** The MSC4186 request body (conn_id, lists, room_subscriptions, extensions, ...). */
  body: z.record(z.string(), z.unknown()),
  pos: z.string().min(1).max(200).nullish(),
  /**
   * Compute past a pushed response only once the client sent `sliding_ack` for it, so the pos it
   * holds stays resumable whatever was lost in transit (the service keeps two positions).
   */
  wait_for_ack: z.boolean().optional(),
});
/** The client processed the sliding sync response at `pos` (its to-device messages may go). */
export const slidingAckFrame = z.object({ type: z.literal("sliding_ack"), pos: z.string().min(1).max(200) });

export const clientFrame = z.discriminatedUnion("type", [
  authFrame,
  subscribeFrame,
  ackFrame,
  pingFrame,
  requestFrame,
  sendFrame,
  sendToDeviceFrame,
  typingFrame,
  receiptFrame,
  slidingSyncFrame,
  slidingAckFrame,
]);
export type ClientFrame = z.infer<typeof clientFrame>;
export type RequestLikeFrame = Extract<
  ClientFrame,
  { type: "request" | "send" | "send_to_device" | "typing" | "receipt" }
>;

export type MatrixErrorBody = { errcode: string; error: string; [k: string]: unknown };

/** Frames the server sends. */
export type ServerFrame =
  | {
      type: "ready";
      version: number;
      user_id: string;
      device_id: string;
      limits: { max_frame_bytes: number; idle_timeout_seconds: number };
    }
  /** A delta: `body` has exactly the schema of a /sync response, including next_batch. */
  | { type: "sync"; since: string | null; body: Record<string, unknown> & { next_batch: string } }
  /**
   * A sliding sync response: `body` has exactly the schema of an MSC4186 response, including its
   * `pos`; `since` is the pos it was computed against (null: the connection's first response).
   */
  | {
      type: "sliding_sync";
      id: string;
      since: string | null;
      body: Record<string, unknown> & { pos: string };
    }
  | { type: "reply"; id: string; status: number; body: unknown }
  | { type: "error"; id?: string; errcode: string; error: string }
  | { type: "pong"; id?: string };

/** Frame as the client library receives it (parsed loosely: the server is trusted, but checked). */
export const serverFrame = z.discriminatedUnion("type", [
  z.object({
    type: z.literal("ready"),
    version: z.number(),
    user_id: z.string(),
    device_id: z.string(),
    limits: z.object({ max_frame_bytes: z.number(), idle_timeout_seconds: z.number() }),
  }),
  z.object({
    type: z.literal("sync"),
    since: z.string().nullable(),
    body: z.looseObject({ next_batch: z.string() }),
  }),
  z.object({
    type: z.literal("sliding_sync"),
    id: z.string(),
    since: z.string().nullable(),
    body: z.looseObject({ pos: z.string() }),
  }),
  z.object({ type: z.literal("reply"), id: z.string(), status: z.number(), body: z.unknown() }),
  z.object({ type: z.literal("error"), id: z.string().optional(), errcode: z.string(), error: z.string() }),
  z.object({ type: z.literal("pong"), id: z.string().optional() }),
]);

const KNOWN_TYPES: ReadonlySet<string> = new Set(clientFrame.options.map((o) => o.shape.type.value));

export type ParsedFrame =
  | { ok: true; frame: ClientFrame }
  | { ok: false; errcode: string; error: string; id?: string };

/** Parses one client text frame. Never throws: a bad frame becomes an error to send back. */
export function parseClientFrame(text: string): ParsedFrame {
  const verdict = checkJsonText(text);
  if (verdict !== "ok") return { ok: false, errcode: "M_BAD_JSON", error: jsonVerdictMessage(verdict) };
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return { ok: false, errcode: "M_NOT_JSON", error: "Frame is not JSON" };
  }
  if (raw === null || typeof raw !== "object" || Array.isArray(raw)) {
    return { ok: false, errcode: "M_BAD_JSON", error: "Frame must be a JSON object" };
  }
  const r = clientFrame.safeParse(raw);
  if (!r.success) {
    const frameId = (raw as { id?: unknown }).id;
    const issue = r.error.issues[0];
    const where = issue?.path.length ? `${issue.path.join(".")}: ` : "";
    const known = KNOWN_TYPES.has(String((raw as { type?: unknown }).type));
    return {
      ok: false,
      errcode: known ? "M_BAD_JSON" : "M_UNRECOGNIZED",
      error: `${where}${issue?.message ?? "invalid frame"}`,
      ...(typeof frameId === "string" ? { id: frameId } : {}),
    };
  }
  return { ok: true, frame: r.data };
}

/** The access token carried in the subprotocol header, if any (base64url after the prefix). */
export function tokenFromSubprotocols(header: string): string | null {
  for (const part of header.split(",")) {
    const p = part.trim();
    if (!p.startsWith(TOKEN_SUBPROTOCOL_PREFIX)) continue;
    const decoded = Buffer.from(p.slice(TOKEN_SUBPROTOCOL_PREFIX.length), "base64url").toString("utf8");
    return decoded.length > 0 ? decoded : null;
  }
  return null;
}

export function offersSubprotocol(header: string): boolean {
  return header.split(",").some((p) => p.trim() === SUBPROTOCOL);
}

/** Maps the convenience request frames onto the Client-Server API call they stand for. */
export function toApiCall(
  frame: RequestLikeFrame,
  userId: string,
): { method: string; path: string; body: unknown } {
  const e = encodeURIComponent;
  switch (frame.type) {
    case "request":
      return { method: frame.method, path: frame.path, body: frame.body };
    case "send":
      return {
        method: "PUT",
        path: `/_matrix/client/v3/rooms/${e(frame.room_id)}/send/${e(frame.event_type)}/${e(frame.txn_id)}`,
        body: frame.content,
      };
    case "send_to_device":
      return {
        method: "PUT",
        path: `/_matrix/client/v3/sendToDevice/${e(frame.event_type)}/${e(frame.txn_id)}`,
        body: { messages: frame.messages },
      };
    case "typing":
      return {
        method: "PUT",
        path: `/_matrix/client/v3/rooms/${e(frame.room_id)}/typing/${e(userId)}`,
        body: frame.typing ? { typing: true, timeout: frame.timeout ?? 30_000 } : { typing: false },
      };
    case "receipt":
      return {
        method: "POST",
        path: `/_matrix/client/v3/rooms/${e(frame.room_id)}/receipt/${e(frame.receipt_type)}/${e(frame.event_id)}`,
        body: frame.thread_id ? { thread_id: frame.thread_id } : {},
      };
  }
}
