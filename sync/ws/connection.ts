import { MatrixError } from "../../companion-services/platform/errors.ts";
import type { AuthInfo } from "../../companion-services/platform/http/router.ts";
import { responseHasData, type SyncResponse } from "../provider.ts";
import { formatSyncToken, parseSyncToken, type SyncToken } from "../token.ts";
import type { ConnectionDepsOf, SocketLike } from "./connection-deps.ts";
import {
  type ClientFrame,
  CloseCode,
  Limits,
  PROTOCOL_VERSION,
  parseClientFrame,
  type RequestLikeFrame,
  type ServerFrame,
  toApiCall,
} from "./protocol.ts";
import { SlidingSubscription } from "./sliding.ts";

export type { SocketLike } from "./connection-deps.ts";
export type ConnectionDeps = ConnectionDepsOf<Connection>;

type Subscription = { since: SyncToken | null; filter: Record<string, unknown>; fullState: boolean };

/** How many 250 ms waits a token ahead of this replica gets before it is clamped (10 s). */
const AHEAD_WAITS = 40;
/** Re-verify the access token before dispatching a request if the last check is older than this. */
const REVERIFY_AFTER_MS = 60_000;
/** Nothing waiting to be stored (shared: an idle socket allocates no promise of its own). */
const STORED: Promise<void> = Promise.resolve();

/**
 * One WebSocket sync session: authentication, a subscription whose deltas are pushed when the
 * notifier wakes it, acknowledgements, and request frames dispatched through the router.
 * Ordering guarantee: deltas are sent in stream order and each starts where the previous ended.
 */
export class Connection {
  auth: AuthInfo | null = null;
  private token: string | null = null;
  private verifiedAt = 0;
  private closed = false;
  private authenticating = false;
  // Allocated only when needed: an idle socket should cost as little memory as possible.
  private queued: string[] | null = null;
  private abuse: number[] | null = null;
  private inFlight = 0;
  /** The acknowledgements still being stored, in order; a ping waits for them. */
  private acking: Promise<void> = STORED;
  private subscription: Subscription | null = null;
  private generation = 0;
  private wakePump: (() => void) | null = null;
  /** Waiting for the send buffer to drain: the regular pump and the sliding loop. */
  private drained: Set<() => void> | null = null;
  private authTimer: NodeJS.Timeout | null = null;
  private closedPromise: Promise<void> | null = null;
  private resolveClosed: (() => void) | null = null;
  private finishing: { code: number; reason: string } | null = null;
  private releasePresence: (() => void) | null = null;
  private sliding: SlidingSubscription | null = null;
  /**
   * Set by every write or ephemeral change touching the user or their rooms (the Notifier calls
   * `wake`), including those made while a delta is being computed: a window is computed only when
   * something may be in it (the stream moves with everyone's writes; most are not this user's).
   */
  private dirty = false;
  /** Stream position of the last delta sent (the server side of `since`). */
  lastSent: string | null = null;

  constructor(
    private readonly ws: SocketLike,
    private readonly deps: ConnectionDeps,
    readonly ip: string,
    subprotocolToken: string | null,
  ) {
    if (subprotocolToken) {
      this.guard(this.authenticate(subprotocolToken), "auth");
    } else {
      this.authTimer = setTimeout(() => {
        if (!this.auth) this.close(CloseCode.authTimeout, "authentication timeout");
      }, Limits.authTimeoutMs);
    }
  }

  /** Resolves when the socket closes (requests in flight see it as their `aborted`). */
  private closed$(): Promise<void> {
    if (this.closed) return Promise.resolve();
    this.closedPromise ??= new Promise((r) => {
      this.resolveClosed = r;
    });
    return this.closedPromise;
  }

  isClosed(): boolean {
    return this.closed;
  }

  /** uWS close callback: the socket is gone; stop everything. */
  onClosed(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.authTimer) clearTimeout(this.authTimer);
    this.releasePresence?.();
    this.releasePresence = null;
    this.sliding?.dispose();
    this.resolveClosed?.();
    this.wakePump?.();
    for (const d of [...(this.drained ?? [])]) d();
  }

  /** The Notifier's standing registration: something touching this user committed. */
  wake(): void {
    this.dirty = true;
    this.wakePump?.();
  }

  onDrain(): void {
    if (!this.drained?.size || this.ws.getBufferedAmount() >= Limits.coalesceAboveBytes) return;
    for (const d of [...this.drained]) d();
  }

  /**
   * Graceful close (shutdown): first push what has committed up to now (the pump sends its last
   * delta), then close with `code`. Without a subscription, closes at once.
   */
  finish(code: number, reason: string): void {
    if (this.closed) return;
    if (!this.subscription || !this.auth) {
      this.close(code, reason);
      return;
    }
    this.finishing = { code, reason };
    this.wakePump?.();
  }

  /** Server-initiated close; safe to call more than once. */
  close(code: number, reason: string): void {
    if (this.closed) return;
    try {
      this.ws.end(code, reason);
    } catch {
      // already closed by the peer
    }
    this.onClosed();
  }

  onMessage(text: string | null): void {
    if (this.closed) return;
    if (text === null) {
      this.refuse({ errcode: "M_BAD_JSON", error: "Only text frames are accepted" });
      return;
    }
    if (this.authenticating) {
      this.queued ??= [];
      if (this.queued.length >= 16) this.refuse({ errcode: "M_LIMIT_EXCEEDED", error: "Wait for ready" });
      else this.queued.push(text);
      return;
    }
    const parsed = parseClientFrame(text);
    if (!parsed.ok) {
      this.refuse(parsed);
      return;
    }
    this.handle(parsed.frame);
  }

  private handle(frame: ClientFrame): void {
    if (frame.type === "ping") {
      const pong = { type: "pong" as const, ...(frame.id ? { id: frame.id } : {}) };
      // A pong also confirms every acknowledgement sent before the ping has been stored,
      // so a client can close and resume without seeing acknowledged to-device messages.
      void this.acking.then(() => this.send(pong));
      return;
    }
    if (!this.auth) {
      if (frame.type === "auth") this.guard(this.authenticate(frame.access_token), "auth");
      else this.refuse({ errcode: "M_MISSING_TOKEN", error: "Authenticate first" });
      return;
    }
    switch (frame.type) {
      case "auth":
        this.refuse({ errcode: "M_BAD_JSON", error: "Already authenticated" });
        return;
      case "subscribe":
        this.guard(this.subscribe(frame), "subscribe");
        return;
      case "ack": {
        const stored = this.acking.then(() => this.ack(frame.next_batch));
        this.acking = stored.catch(() => undefined);
        this.guard(stored, "ack");
        return;
      }
      case "sliding_sync":
        this.slidingSync(frame);
        return;
      case "sliding_ack":
        this.sliding?.ack(frame.pos);
        return;
      default:
        this.guard(this.request(frame), "request", frame.id);
    }
  }

  private async authenticate(token: string): Promise<void> {
    this.authenticating = true;
    try {
      const auth = await this.deps.authenticate(token);
      if (this.closed) return;
      this.auth = auth;
      this.token = token;
      this.verifiedAt = Date.now();
      if (this.authTimer) clearTimeout(this.authTimer);
      this.deps.onAuthenticated(this);
      this.send({
        type: "ready",
        version: PROTOCOL_VERSION,
        user_id: auth.userId,
        device_id: auth.deviceId,
        limits: { max_frame_bytes: Limits.maxFrameBytes, idle_timeout_seconds: Limits.idleTimeoutSeconds },
      });
    } catch (err) {
      if (!(err instanceof MatrixError)) {
        // Not the token's fault (e.g. the identity store is unreachable): retryable.
        this.deps.logger.error({ err }, "ws authentication failed unexpectedly");
        this.send({ type: "error", errcode: "M_UNKNOWN", error: "Authentication unavailable, retry" });
        this.close(1011, "authentication unavailable");
        return;
      }
      this.send({ type: "error", errcode: err.errcode, error: err.message });
      this.close(CloseCode.unknownToken, "authentication failed");
      return;
    } finally {
      this.authenticating = false;
    }
    const queued = this.queued ?? [];
    this.queued = null;
    for (const text of queued) this.onMessage(text);
  }

  private async subscribe(frame: Extract<ClientFrame, { type: "subscribe" }>): Promise<void> {
    const auth = this.auth!;
    let since: SyncToken | null;
    let filter: Record<string, unknown>;
    try {
      since = frame.since ? parseSyncToken(frame.since) : null;
      filter = await this.deps.resolveFilter(auth.userId, frame.filter);
    } catch (err) {
      if (err instanceof MatrixError) this.refuse({ errcode: err.errcode, error: err.message });
      else this.refuse({ errcode: "M_INVALID_PARAM", error: "Invalid subscription" });
      return;
    }
    if (this.closed) return;
    this.subscription = { since, filter, fullState: frame.full_state ?? false };
    const release = this.releasePresence;
    this.releasePresence = this.deps.holdPresence?.(auth.userId, frame.set_presence ?? "online") ?? null;
    release?.();
    this.generation++;
    this.wakePump?.();
    void this.pump(this.generation).catch((err: unknown) => {
      this.deps.logger.error({ err }, "ws sync pump failed");
      this.close(1011, "internal error");
    });
  }

  private slidingSync(frame: Extract<ClientFrame, { type: "sliding_sync" }>): void {
    const port = this.deps.slidingSync;
    if (!port) {
      this.refuse({ errcode: "M_UNRECOGNIZED", error: "Sliding sync is not served here", id: frame.id });
      return;
    }
    this.sliding ??= new SlidingSubscription(port, {
      userId: this.auth!.userId,
      deviceId: this.auth!.deviceId,
      logger: this.deps.logger,
      send: (f) => this.send(f),
      closed: this.closed$(),
      stopping: () => this.closed || this.finishing !== null,
      backlog: () => (this.ws.getBufferedAmount() >= Limits.coalesceAboveBytes ? this.waitForDrain() : null),
      ...(this.deps.holdPresence ? { holdPresence: this.deps.holdPresence } : {}),
    });
    this.sliding.start(frame);
  }

  private async ack(nextBatch: string): Promise<void> {
    const auth = this.auth!;
    let position: number;
    try {
      position = parseSyncToken(nextBatch).stream;
    } catch (err) {
      if (err instanceof MatrixError) this.refuse({ errcode: err.errcode, error: err.message });
      return;
    }
    // A client cannot acknowledge what does not exist yet.
    position = Math.min(position, this.deps.currentToken().stream);
    await this.deps.acknowledge(auth.userId, auth.deviceId, position);
  }

  private async request(frame: RequestLikeFrame): Promise<void> {
    const auth = this.auth!;
    if (this.inFlight >= Limits.maxInFlightRequests) {
      this.send({ type: "reply", id: frame.id, status: 429, body: tooManyBody() });
      return;
    }
    this.inFlight++;
    try {
      if (Date.now() - this.verifiedAt > REVERIFY_AFTER_MS) {
        try {
          await this.deps.authenticate(this.token!);
          this.verifiedAt = Date.now();
        } catch (err) {
          if (!(err instanceof MatrixError)) throw err;
          this.send({ type: "error", errcode: err.errcode, error: "Access token is no longer valid" });
          this.close(CloseCode.unknownToken, "token no longer valid");
          return;
        }
      }
      const call = toApiCall(frame, auth.userId);
      const out = await this.deps.dispatch({
        ...call,
        auth,
        ip: this.ip,
        aborted: this.closed$(),
        isAborted: () => this.closed,
      });
      this.send({ type: "reply", id: frame.id, status: out.status, body: out.body });
    } finally {
      this.inFlight--;
    }
  }

  /**
   * Pushes deltas for one subscription until the socket closes or the client subscribes again.
   * Each delta covers (since, to] with `to` the safe position, exactly what /sync would return.
   */
  private async pump(generation: number): Promise<void> {
    const auth = this.auth!;
    const sub = this.subscription!;
    let since = sub.since;
    // What the client holds: the subscription's token, then each sent delta's next_batch. Empty
    // windows are not sent, so this can lag `since`; frames carry it so clients can check the chain.
    let chain = sub.since ? formatSyncToken(sub.since) : null;
    let first = true;
    let aheadWaits = 0;
    this.dirty = true;
    const registration = this.deps.subscribe(auth.userId, [], this);
    try {
      let rooms = await this.deps.roomsOf(auth.userId);
      registration.setRooms(rooms);
      while (!this.closed && this.generation === generation) {
        if (this.ws.getBufferedAmount() >= Limits.coalesceAboveBytes) {
          // Shutting down: no time to wait for a slow reader; it resumes elsewhere from its token.
          if (this.finishing) return this.close(this.finishing.code, this.finishing.reason);
          // Slow consumer: hold deltas back; the next one covers everything meanwhile.
          if (!(await this.waitForDrain())) return;
          continue;
        }
        const now = this.deps.currentToken();
        if (since && now.stream < since.stream) {
          // A token from a replica slightly ahead of this one: wait until this one catches up,
          // but not forever for a token that no replica issued (then clamp, as /sync does).
          if (this.finishing) return this.close(this.finishing.code, this.finishing.reason);
          if (++aheadWaits <= AHEAD_WAITS) {
            await this.sleep(250);
            continue;
          }
          since = { stream: now.stream, typing: since.typing };
        }
        if (first || this.dirty) {
          this.dirty = false;
          const response = await this.deps.compute({
            userId: auth.userId,
            deviceId: auth.deviceId,
            since,
            to: now,
            fullState: first && sub.fullState,
            filter: sub.filter,
          });
          if (this.closed || this.generation !== generation) return;
          if (first || responseHasData(response)) {
            this.send({ type: "sync", since: chain, body: response });
            chain = response.next_batch;
            this.lastSent = response.next_batch;
            this.deps.onDelta?.(this, response);
          }
          if (membershipMayHaveChanged(response, rooms)) {
            rooms = await this.deps.roomsOf(auth.userId);
            registration.setRooms(rooms);
            // Writes in a newly joined room before the registration covered it: look once more.
            this.dirty = true;
          }
          since = now;
          first = false;
          continue;
        }
        // Everything committed that touches the user has been sent: a shutdown may close now.
        if (this.finishing) return this.close(this.finishing.code, this.finishing.reason);
        // Nothing new: sleep until the registration, a close or a new subscription wakes the pump.
        await this.sleep(Number.POSITIVE_INFINITY);
      }
    } finally {
      registration.close();
    }
  }

  /**
   * Sleeps until woken (a touching write, close, resubscribe) or `timeoutMs`. The caller checks
   * `dirty` first with no await in between, and the registration sets it before waking.
   */
  private async sleep(timeoutMs: number): Promise<void> {
    await new Promise<void>((resolve) => {
      const timer = Number.isFinite(timeoutMs) ? setTimeout(resolve, timeoutMs) : undefined;
      this.wakePump = () => {
        if (timer) clearTimeout(timer);
        resolve();
      };
    });
    this.wakePump = null;
  }

  /** Resolves true once the buffer drains below the coalescing mark; closes a consumer too slow. */
  private waitForDrain(): Promise<boolean> {
    if (this.closed) return Promise.resolve(false);
    return new Promise((resolve) => {
      // Closing resolves every waiter (onClosed), this one included.
      const timer = setTimeout(
        () => this.close(CloseCode.slowConsumer, "slow consumer: resume from your last next_batch"),
        Limits.slowConsumerMs,
      );
      const waiter = () => {
        clearTimeout(timer);
        this.drained?.delete(waiter);
        resolve(!this.closed);
      };
      this.drained ??= new Set();
      this.drained.add(waiter);
      // The drain callback may have fired between the check and now.
      this.onDrain();
    });
  }

  /** Frame handlers run concurrently; an unexpected failure is logged and answered, never thrown. */
  private guard(p: Promise<void>, what: string, id?: string): void {
    p.catch((err: unknown) => {
      this.deps.logger.error({ err, what }, "ws frame handler failed");
      this.send({ type: "error", ...(id ? { id } : {}), errcode: "M_UNKNOWN", error: "Internal error" });
    });
  }

  private refuse(e: { errcode: string; error: string; id?: string }): void {
    this.send({ type: "error", ...(e.id ? { id: e.id } : {}), errcode: e.errcode, error: e.error });
    const now = Date.now();
    this.abuse ??= [];
    this.abuse.push(now);
    while (this.abuse.length && this.abuse[0]! < now - 60_000) this.abuse.shift();
    if (this.abuse.length > Limits.abusePerMinute) this.close(CloseCode.abuse, "too many bad frames");
  }

  send(frame: ServerFrame): void {
    if (this.closed) return;
    const status = this.ws.send(JSON.stringify(frame));
    // 2: uWS dropped the frame (over its hard backpressure limit, `Limits.maxBufferedBytes`).
    // Never lose silently: close; the client resumes from its last next_batch.
    if (status === 2) {
      this.close(CloseCode.slowConsumer, "slow consumer: resume from your last next_batch");
    }
  }
}

function tooManyBody() {
  return { errcode: "M_LIMIT_EXCEEDED", error: "Too many requests in flight on this socket" };
}

/** A delta that joins, leaves or is invited to a room not in the wake set changes that set. */
function membershipMayHaveChanged(r: SyncResponse, rooms: string[]): boolean {
  const known = new Set(rooms);
  if (
    Object.keys(r.rooms?.leave ?? {}).length ||
    Object.keys(r.rooms?.invite ?? {}).some((id) => !known.has(id))
  ) {
    return true;
  }
  return Object.keys(r.rooms?.join ?? {}).some((id) => !known.has(id));
}
