import { MatrixError } from "../../companion-services/platform/errors.ts";
import type { RoomSubscription, SlidingList } from "./schema.ts";

/**
 * What a connection had been sent as of one position. Rooms in the window at that position are
 * `live`: the connection has everything of them up to the position's stream and typing serial.
 * A room that left the window keeps the cursors it had when it left, so it is caught up when it
 * comes back (Synapse's PREVIOUSLY status).
 */
export type ConnectionState = {
  stream: number;
  typing: number;
  /** Distinct required_state config keys of this connection's rooms (rooms refer by index). */
  configs: string[];
  rooms: Record<string, RoomCursor>;
  /** Each list's count as last sent: a changed count is worth answering a long-poll for. */
  counts: Record<string, number>;
  /** The list parameters and subscriptions in force (sticky.ts). */
  params?: StickyParams;
};

export type RoomCursor = {
  /** 1: in the window at this position (its cursors are the position's). */
  v?: 1;
  /** Timeline sent up to this stream position (rooms not live). */
  t?: number;
  /** Room-scoped extension data sent up to [stream, typing] (rooms not live). */
  e?: [number, number];
  /** Effective timeline_limit last sent. */
  l: number;
  /** Index into `configs` of the effective required_state last sent. */
  r: number;
  /** The user's membership as last sent. */
  m: string;
  /** Lazy-loaded members already sent (the newest MAX_LAZY_REMEMBERED). */
  z?: string[];
};

/** What a connection remembers of its requests' list parameters and room subscriptions. */
export type StickyParams = {
  lists: Record<string, Omit<SlidingList, "ranges">>;
  subscriptions: Record<string, RoomSubscription>;
  /** The client relies on MSC3575's sticky parameters (matrix-js-sdk does). */
  sticky: boolean;
};

export const MAX_LAZY_REMEMBERED = 100;

export function emptyState(stream: number, typing: number): ConnectionState {
  return { stream, typing, configs: [], rooms: {}, counts: {} };
}

/** The room's cursors as of `state`: live rooms are at the position itself. */
export function cursorsOf(state: ConnectionState, roomId: string): { stream: number; typing: number } | null {
  const c = state.rooms[roomId];
  if (!c) return null;
  if (c.v === 1) return { stream: state.stream, typing: state.typing };
  return { stream: c.t ?? 0, typing: c.e?.[1] ?? 0 };
}

export function extensionCursorOf(
  state: ConnectionState,
  roomId: string,
): { stream: number; typing: number } | null {
  const c = state.rooms[roomId];
  if (!c) return null;
  if (c.v === 1) return { stream: state.stream, typing: state.typing };
  return c.e ? { stream: c.e[0], typing: c.e[1] } : null;
}

export const unknownPos = () => new MatrixError(400, "M_UNKNOWN_POS", "Unknown position");

/** `pos` is opaque to clients: the connection's generation and the position's sequence number. */
export function formatPos(generation: string, seq: number): string {
  return `${generation}_${seq}`;
}

/** Any malformed `pos` is M_UNKNOWN_POS: clients reset only on that code (checklist §2). */
export function parsePos(pos: string): { generation: string; seq: number } {
  const m = /^([0-9a-f]{8,32})_(\d{1,10})$/.exec(pos);
  if (!m) throw unknownPos();
  return { generation: m[1]!, seq: Number(m[2]) };
}
