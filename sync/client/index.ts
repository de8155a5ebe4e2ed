/**
 * Typed client for Nova's sync over WebSocket (docs/sync-protocol.md), for Node and browsers.
 * Uses the global WebSocket where there is one, else the `ws` package. Reconnects with backoff
 * and resumes from the last delta it processed, so a dropped socket loses nothing.
 *
 * ```ts
 * const client = new NovaSyncClient({ baseUrl: "http://localhost:8008", accessToken });
 * client.onSync(async (body) => { ... }); // a /sync response; acknowledged once this resolves
 * await client.start();
 * await client.sendEvent(roomId, "m.room.message", { msgtype: "m.text", body: "hi" });
 * ```
 */
import {
  CloseCode,
  FATAL_CLOSE_CODES,
  type MatrixErrorBody,
  SUBPROTOCOL,
  serverFrame,
  TOKEN_SUBPROTOCOL_PREFIX,
  WS_PATH,
} from "../ws/protocol.ts";
import { type SlidingBody, type SlidingHandler, SlidingSession } from "./sliding.ts";

export type { SlidingBody, SlidingHandler } from "./sliding.ts";

/** The subset of the WHATWG WebSocket both browsers and `ws` provide. */
type WebSocketLike = {
  readonly readyState: number;
  readonly protocol: string;
  onopen: ((ev: unknown) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  onclose: ((ev: { code: number; reason: string }) => void) | null;
  onerror: ((ev: unknown) => void) | null;
  send(data: string): void;
  close(code?: number, reason?: string): void;
};
export type WebSocketConstructor = new (url: string, protocols?: string[]) => WebSocketLike;

export type SyncBody = Record<string, unknown> & { next_batch: string };

export type NovaSyncClientOptions = {
  /**
   * Homeserver base URL (http/https); the socket goes to the same host and port. Several URLs
   * (replicas without a load balancer in front): after the server goes away (1006, 1012) the
   * client resumes on the next one.
   */
  baseUrl: string | string[];
  accessToken: string;
  /** Resume from this token (a /sync or socket next_batch); absent: initial sync. */
  since?: string | null;
  /** Filter id or inline filter JSON, as for /sync. */
  filter?: string | Record<string, unknown>;
  fullState?: boolean;
  /** The presence the subscription keeps while it is open, as /sync's set_presence (server default online). */
  setPresence?: "online" | "offline" | "unavailable";
  /** How the token travels: an `auth` frame (default) or the subprotocol header. Never the URL. */
  authVia?: "frame" | "subprotocol";
  /** Reconnect after a non-fatal close (default on). */
  reconnect?: boolean;
  /** Backoff bounds for reconnecting, ms. */
  minBackoffMs?: number;
  maxBackoffMs?: number;
  /** Subscribe as soon as authenticated (default true); else call `subscribe()`. */
  autoSubscribe?: boolean;
  /** Acknowledge each delta once its handler resolved (default true). */
  autoAck?: boolean;
  /** Request timeout, ms (default 30 s). */
  requestTimeoutMs?: number;
  /** WebSocket implementation override (tests, exotic runtimes). */
  WebSocket?: WebSocketConstructor;
};

/** A request answered with a Matrix error. */
export class NovaRequestError extends Error {
  constructor(
    readonly status: number,
    readonly body: MatrixErrorBody,
  ) {
    super(`${status} ${body.errcode}: ${body.error}`);
  }
  get errcode(): string {
    return this.body.errcode;
  }
}

/** The socket went away before a request was answered; requests with a txn id are safe to retry. */
export class NovaConnectionError extends Error {}

type Pending = {
  resolve: (v: { status: number; body: unknown }) => void;
  reject: (e: Error) => void;
  timer: ReturnType<typeof setTimeout>;
};
type SyncHandler = (body: SyncBody, meta: { since: string | null }) => void | Promise<void>;
type CloseInfo = { code: number; reason: string; willReconnect: boolean };

export class NovaSyncClient {
  private ws: WebSocketLike | null = null;
  private since: string | null;
  private readonly pending = new Map<string, Pending>();
  private readonly syncHandlers = new Set<SyncHandler>();
  private readonly sliding = new SlidingSession();
  private readonly slidingHandlers = new Set<SlidingHandler>();
  private readonly closeHandlers = new Set<(info: CloseInfo) => void>();
  private readonly errorHandlers = new Set<(e: { errcode: string; error: string }) => void>();
  private readonly readyHandlers = new Set<(info: { userId: string; deviceId: string }) => void>();
  private queue: Promise<void> = Promise.resolve();
  private nextId = 1;
  private attempt = 0;
  private stopped = false;
  private reconnectTimer: ReturnType<typeof setTimeout> | null = null;
  private urlIndex = 0;
  private readyWaiters: { resolve: () => void; reject: (e: Error) => void }[] = [];
  private isReady = false;
  private subscribed: boolean;
  userId: string | null = null;
  deviceId: string | null = null;

  constructor(private readonly opts: NovaSyncClientOptions) {
    this.since = opts.since ?? null;
    this.subscribed = opts.autoSubscribe !== false;
  }

  /** The token of the last delta processed: what a reconnect resumes from. */
  get nextBatch(): string | null {
    return this.since;
  }

  get ready(): boolean {
    return this.isReady;
  }

  onSync(h: SyncHandler): () => void {
    this.syncHandlers.add(h);
    return () => this.syncHandlers.delete(h);
  }
  /** Sliding sync responses (§4a), one at a time, in order; each is acknowledged once processed. */
  onSlidingSync(h: SlidingHandler): () => void {
    this.slidingHandlers.add(h);
    return () => this.slidingHandlers.delete(h);
  }

  /**
   * Starts or replaces the sliding sync subscription with an MSC4186 request body (send it again
   * to change lists or ranges). It continues from `pos` (default: the last response processed),
   * resumes by itself after a reconnect, and starts over on M_UNKNOWN_POS.
   */
  slidingSync(body: Record<string, unknown>, opts: { pos?: string | null } = {}): void {
    // After the responses already received: the new frame continues from the last of them.
    this.queue = this.queue.then(() => {
      const frame = this.sliding.start(body, opts.pos);
      if (this.isReady) this.raw(frame);
    });
  }

  /** The pos of the last sliding sync response processed. */
  get slidingPos(): string | null {
    return this.sliding.pos;
  }

  onClose(h: (info: CloseInfo) => void): () => void {
    this.closeHandlers.add(h);
    return () => this.closeHandlers.delete(h);
  }
  onError(h: (e: { errcode: string; error: string }) => void): () => void {
    this.errorHandlers.add(h);
    return () => this.errorHandlers.delete(h);
  }
  onReady(h: (info: { userId: string; deviceId: string }) => void): () => void {
    this.readyHandlers.add(h);
    return () => this.readyHandlers.delete(h);
  }

  /** Connects, authenticates and subscribes; resolves once the server said `ready`. */
  async start(): Promise<void> {
    this.stopped = false;
    const ready = this.waitReady();
    await this.connect();
    await ready;
  }

  /** Resolves when the socket is (again) authenticated. */
  waitReady(): Promise<void> {
    if (this.isReady) return Promise.resolve();
    return new Promise((resolve, reject) => this.readyWaiters.push({ resolve, reject }));
  }

  /** Closes for good (no reconnect). */
  close(): void {
    this.stopped = true;
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    this.ws?.close(CloseCode.normal, "client closed");
    this.failPending(new NovaConnectionError("client closed"));
  }

  /** Drops the socket without a close handshake reason the server would act on: it reconnects. */
  dropForTest(): void {
    this.ws?.close(4999, "drop");
  }

  /** Any Client-Server API call over the socket. Resolves with status and body (errors included). */
  request(
    method: "GET" | "POST" | "PUT" | "DELETE",
    path: string,
    body?: unknown,
  ): Promise<{ status: number; body: unknown }> {
    return this.call({ type: "request", method, path, ...(body === undefined ? {} : { body }) });
  }

  /** Like `request`, but resolves with the body of a 2xx and throws `NovaRequestError` otherwise. */
  async api<T = Record<string, unknown>>(
    method: "GET" | "POST" | "PUT" | "DELETE",
    path: string,
    body?: unknown,
  ): Promise<T> {
    return ok<T>(await this.request(method, path, body));
  }

  async sendEvent(
    roomId: string,
    eventType: string,
    content: Record<string, unknown>,
    txnId = randomTxn(),
  ): Promise<{ event_id: string }> {
    return ok(
      await this.call({ type: "send", room_id: roomId, event_type: eventType, txn_id: txnId, content }),
    );
  }

  async sendToDevice(
    eventType: string,
    messages: Record<string, Record<string, Record<string, unknown>>>,
    txnId = randomTxn(),
  ): Promise<void> {
    await ok(await this.call({ type: "send_to_device", event_type: eventType, txn_id: txnId, messages }));
  }

  async setTyping(roomId: string, typing: boolean, timeout?: number): Promise<void> {
    await ok(await this.call({ type: "typing", room_id: roomId, typing, ...(timeout ? { timeout } : {}) }));
  }

  async sendReceipt(
    roomId: string,
    eventId: string,
    receiptType = "m.read",
    threadId?: string,
  ): Promise<void> {
    await ok(
      await this.call({
        type: "receipt",
        room_id: roomId,
        receipt_type: receiptType,
        event_id: eventId,
        ...(threadId ? { thread_id: threadId } : {}),
      }),
    );
  }

  /**
   * (Re)subscribes from `since` with `filter` (defaults: the options'). Deltas of the previous
   * subscription still in flight are dropped. Reconnects resume this subscription.
   */
  subscribe(
    opts: { since?: string | null; filter?: string | Record<string, unknown>; fullState?: boolean } = {},
  ): void {
    if (opts.since !== undefined) this.since = opts.since;
    if (opts.filter !== undefined) this.opts.filter = opts.filter;
    if (opts.fullState !== undefined) this.opts.fullState = opts.fullState;
    this.subscribed = true;
    if (this.isReady) this.sendSubscribe();
  }

  private sendSubscribe(): void {
    this.raw({
      type: "subscribe",
      since: this.since,
      ...(this.opts.filter !== undefined ? { filter: this.opts.filter } : {}),
      ...(this.opts.fullState ? { full_state: true } : {}),
      ...(this.opts.setPresence ? { set_presence: this.opts.setPresence } : {}),
    });
  }

  /** Acknowledges everything up to `nextBatch` (default: the last delta processed). */
  ack(nextBatch: string | null = this.since): void {
    if (nextBatch && this.isReady) this.raw({ type: "ack", next_batch: nextBatch });
  }

  /** Round trip of an application-level ping, ms. */
  async ping(): Promise<number> {
    const t = Date.now();
    await this.call({ type: "ping" });
    return Date.now() - t;
  }

  /** Sends a raw frame (tests: malformed input). */
  raw(frame: unknown): void {
    this.ws?.send(typeof frame === "string" ? frame : JSON.stringify(frame));
  }

  private call(frame: Record<string, unknown>): Promise<{ status: number; body: unknown }> {
    const id = String(this.nextId++);
    return new Promise((resolve, reject) => {
      if (!this.ws || !this.isReady) {
        reject(new NovaConnectionError("not connected"));
        return;
      }
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new NovaConnectionError("request timed out"));
      }, this.opts.requestTimeoutMs ?? 30_000);
      this.pending.set(id, { resolve, reject, timer });
      this.raw({ ...frame, id });
    });
  }

  private async connect(): Promise<void> {
    const Ctor = this.opts.WebSocket ?? (await defaultWebSocket());
    const urls = Array.isArray(this.opts.baseUrl) ? this.opts.baseUrl : [this.opts.baseUrl];
    const base = urls[this.urlIndex % urls.length]!;
    const url = base.replace(/^http/, "ws").replace(/\/+$/, "") + WS_PATH;
    const protocols = [SUBPROTOCOL];
    if (this.opts.authVia === "subprotocol")
      protocols.push(TOKEN_SUBPROTOCOL_PREFIX + base64url(this.opts.accessToken));
    const ws = new Ctor(url, protocols);
    this.ws = ws;
    ws.onopen = () => {
      if (this.opts.authVia !== "subprotocol")
        this.raw({ type: "auth", access_token: this.opts.accessToken });
    };
    ws.onmessage = (ev) => {
      if (this.ws === ws) this.onFrame(typeof ev.data === "string" ? ev.data : String(ev.data));
    };
    ws.onerror = () => {
      // onclose follows; reconnecting happens there.
    };
    ws.onclose = (ev) => {
      if (this.ws !== ws) return;
      this.ws = null;
      this.isReady = false;
      this.failPending(new NovaConnectionError(`socket closed (${ev.code})`));
      const fatal = FATAL_CLOSE_CODES.has(ev.code);
      const willReconnect = !this.stopped && !fatal && this.opts.reconnect !== false;
      for (const h of this.closeHandlers) h({ code: ev.code, reason: ev.reason, willReconnect });
      if (willReconnect) {
        // The server went away or is restarting: try the next replica, if there is one.
        if (ev.code === 1006 || ev.code === CloseCode.serviceRestart) this.urlIndex++;
        const base = this.opts.minBackoffMs ?? 100;
        const max = this.opts.maxBackoffMs ?? 10_000;
        const delay = Math.min(max, base * 2 ** Math.min(this.attempt++, 10)) * (0.5 + Math.random() / 2);
        this.reconnectTimer = setTimeout(() => {
          this.connect().catch(() => undefined);
        }, delay);
      } else {
        for (const w of this.readyWaiters.splice(0))
          w.reject(new NovaConnectionError(`closed (${ev.code} ${ev.reason})`));
      }
    };
  }

  private onFrame(text: string): void {
    let parsed: ReturnType<typeof serverFrame.safeParse>;
    try {
      parsed = serverFrame.safeParse(JSON.parse(text));
    } catch {
      return;
    }
    if (!parsed.success) return;
    const f = parsed.data;
    switch (f.type) {
      case "ready": {
        this.isReady = true;
        this.attempt = 0;
        this.userId = f.user_id;
        this.deviceId = f.device_id;
        const ws = this.ws;
        // Resume only after every delta already received has been processed.
        void this.queue.then(() => {
          if (this.ws !== ws) return;
          if (this.subscribed) this.sendSubscribe();
          const sliding = this.sliding.frame();
          if (sliding) this.raw(sliding);
        });
        for (const h of this.readyHandlers) h({ userId: f.user_id, deviceId: f.device_id });
        for (const w of this.readyWaiters.splice(0)) w.resolve();
        return;
      }
      case "sync": {
        const body = f.body as SyncBody;
        const ws = this.ws;
        // Deltas are processed one at a time, in order; the resume token moves only after the
        // handlers finished, so a crash mid-handler re-delivers rather than loses.
        this.queue = this.queue
          .then(async () => {
            // A delta of an earlier subscription (sent before the server saw the new one).
            if (f.since !== this.since) return;
            for (const h of this.syncHandlers) await h(body, { since: f.since });
            this.since = body.next_batch;
            if (this.ws === ws && this.opts.autoAck !== false) this.ack(body.next_batch);
          })
          // A throwing handler is the application's bug; it must not stop the stream.
          .catch(() => undefined);
        return;
      }
      case "sliding_sync": {
        const body = f.body as SlidingBody;
        const ws = this.ws;
        this.queue = this.queue
          .then(async () => {
            // Of a replaced subscription, or not following on from what was processed.
            if (!this.sliding.accepts(f)) return;
            for (const h of this.slidingHandlers) await h(body, { since: f.since });
            this.sliding.processed(body);
            if (this.ws === ws) this.raw({ type: "sliding_ack", pos: body.pos });
          })
          .catch(() => undefined);
        return;
      }
      case "reply": {
        const p = this.pending.get(f.id);
        if (!p) return;
        this.pending.delete(f.id);
        clearTimeout(p.timer);
        p.resolve({ status: f.status, body: f.body });
        return;
      }
      case "pong": {
        const p = f.id ? this.pending.get(f.id) : undefined;
        if (!p || !f.id) return;
        this.pending.delete(f.id);
        clearTimeout(p.timer);
        p.resolve({ status: 200, body: {} });
        return;
      }
      case "error": {
        const p = f.id ? this.pending.get(f.id) : undefined;
        if (p && f.id) {
          this.pending.delete(f.id);
          clearTimeout(p.timer);
          p.resolve({ status: 400, body: { errcode: f.errcode, error: f.error } });
        }
        for (const h of this.errorHandlers) h({ errcode: f.errcode, error: f.error });
        if (f.errcode === "M_UNKNOWN_POS" && this.sliding.isCurrent(f.id)) {
          const ws = this.ws;
          void this.queue.then(() => {
            const frame = this.ws === ws ? this.sliding.reset() : null;
            if (frame) this.raw(frame);
          });
        }
        return;
      }
    }
  }

  private failPending(e: Error): void {
    for (const p of this.pending.values()) {
      clearTimeout(p.timer);
      p.reject(e);
    }
    this.pending.clear();
  }
}

function ok<T>(r: { status: number; body: unknown }): T {
  if (r.status >= 200 && r.status < 300) return r.body as T;
  throw new NovaRequestError(r.status, r.body as MatrixErrorBody);
}

function randomTxn(): string {
  return `w${Date.now().toString(36)}${Math.random().toString(36).slice(2, 10)}`;
}

function base64url(s: string): string {
  const bytes = new TextEncoder().encode(s);
  let bin = "";
  for (const b of bytes) bin += String.fromCharCode(b);
  return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

async function defaultWebSocket(): Promise<WebSocketConstructor> {
  const g = globalThis as { WebSocket?: WebSocketConstructor };
  if (g.WebSocket) return g.WebSocket;
  // A variable specifier keeps browser bundlers from trying to bundle the Node-only package.
  const name = "ws";
  const mod = (await import(/* @vite-ignore */ name)) as { default: WebSocketConstructor };
  return mod.default;
}
