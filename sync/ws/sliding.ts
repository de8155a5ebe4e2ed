import type { z } from "zod";
import { MatrixError } from "../../companion-services/platform/errors.ts";
import type { Logger } from "../../companion-services/platform/logger.ts";
import type { SyncPresenceState } from "../presence-port.ts";
import type { SlidingSyncPort } from "../sliding-port.ts";
import type { ServerFrame, slidingSyncFrame } from "./protocol.ts";

type SlidingSyncFrame = z.infer<typeof slidingSyncFrame>;

/**
 * How long one computation waits for data. When it runs out, the (empty) response is pushed all
 * the same: a recorded position is never withheld, and the next computation starts from it.
 */
const PUSH_WAIT_MS = 10 * 60_000;
/** Unacknowledged pushes remembered per socket (for `sliding_ack`). */
const MAX_UNACKED = 256;

/** The part of the socket's Connection a sliding subscription uses. */
export type SlidingHost = {
  userId: string;
  deviceId: string;
  logger: Logger;
  send(frame: ServerFrame): void;
  /** Resolves when the socket closes. */
  closed: Promise<void>;
  /** Closed, or shutting down: push nothing more. */
  stopping(): boolean;
  /**
   * Null while the send buffer is below the coalescing mark; else resolves once it drained (true)
   * or the socket was closed as a slow consumer (false).
   */
  backlog(): Promise<boolean> | null;
  holdPresence?(userId: string, presence: SyncPresenceState): () => void;
};

/**
 * The socket's sliding sync subscription (MSC4186 over the socket, docs/sync-protocol.md): a loop
 * of the same requests a client would make over HTTP, each against the pos of the response
 * pushed before it, so the chain of pushed frames is exactly a chain of HTTP responses. A new
 * frame replaces the loop; the loops run one after another (never two against one connection),
 * and a response computed for a replaced loop is not sent: the new loop recomputes from the
 * same base, which the service allows (a changed body at the same pos).
 */
export class SlidingSubscription {
  private generation = 0;
  private running: Promise<void> = Promise.resolve();
  private stopCurrent: (() => void) | null = null;
  /** The last pushed response's pos and the conn_id it belongs to. */
  private last: { connId: string; pos: string; toDevice: string | null } | null = null;
  private releasePresence: (() => void) | null = null;
  /** The to_device position the client confirmed (its own `since`, or a `sliding_ack`). */
  private toDeviceAcked: string | null = null;
  /** Pushed positions not yet acknowledged → their to_device `next_batch`, oldest first. */
  private readonly unacked = new Map<string, string>();
  /** The pos a `wait_for_ack` loop waits to see acknowledged, and how to wake it. */
  private awaitingAck: { pos: string; wake: () => void } | null = null;

  constructor(
    private readonly port: SlidingSyncPort,
    private readonly host: SlidingHost,
  ) {}

  start(frame: SlidingSyncFrame): void {
    const generation = ++this.generation;
    this.stopCurrent?.();
    this.stopCurrent = null;
    const previous = this.running;
    // A failure must not break the chain of loops: the next frame still runs.
    this.running = previous
      .then(() => this.loop(generation, frame))
      .catch((err: unknown) => {
        this.host.logger.error({ err }, "ws sliding sync loop failed");
        this.error(frame.id, "M_UNKNOWN", "Internal error");
      });
  }

  /**
   * The client processed the response at `pos`: the to-device messages it carried (and those
   * before) may be deleted, by the next computation. Unknown positions are ignored.
   */
  ack(pos: string): void {
    if (this.awaitingAck?.pos === pos) this.awaitingAck.wake();
    const next = this.unacked.get(pos);
    if (next === undefined) return;
    this.toDeviceAcked = next;
    for (const p of this.unacked.keys()) {
      this.unacked.delete(p);
      if (p === pos) break;
    }
  }

  /** The socket closed. */
  dispose(): void {
    this.generation++;
    this.stopCurrent?.();
    this.releasePresence?.();
    this.releasePresence = null;
  }

  private live(generation: number): boolean {
    return generation === this.generation && !this.host.stopping();
  }

  /** Never rejects: failures become error frames carrying the frame's id, and end the loop. */
  private async loop(generation: number, frame: SlidingSyncFrame): Promise<void> {
    if (!this.live(generation)) return;
    const { userId, deviceId } = this.host;
    const presence = frame.body.set_presence ?? "online";
    if (presence !== "online" && presence !== "offline" && presence !== "unavailable") {
      this.error(frame.id, "M_INVALID_PARAM", "set_presence must be online, offline or unavailable");
      this.end(generation);
      return;
    }
    const connId = typeof frame.body.conn_id === "string" ? frame.body.conn_id : "";
    let pos = frame.pos !== undefined ? frame.pos : this.last?.connId === connId ? this.last.pos : null;
    // The socket carries pos and waits itself; the body's own copies would only confuse the cache.
    const { pos: _p, timeout: _t, ...rest } = frame.body;
    let body: Record<string, unknown> = rest;
    const toDevice = toDeviceOf(body);
    if (typeof toDevice?.since === "string") this.toDeviceAcked = toDevice.since;
    else if (toDevice && frame.pos === undefined && this.last?.connId === connId && this.last.toDevice) {
      // Continuing this socket's chain: to_device continues too.
      body = withToDeviceSince(body, this.last.toDevice);
    }

    let stop!: () => void;
    const stopped = new Promise<void>((r) => {
      stop = r;
    });
    this.stopCurrent = stop;
    const aborted = Promise.race([this.host.closed, stopped]);
    const release = this.releasePresence;
    this.releasePresence = this.host.holdPresence?.(userId, presence) ?? null;
    release?.();

    let first = true;
    while (this.live(generation)) {
      // A slow reader: wait before computing, so the next response covers everything meanwhile.
      const backlog = this.host.backlog();
      if (backlog && !(await backlog)) return;
      if (!this.live(generation)) return;
      let response: Record<string, unknown> & { pos: string };
      try {
        // The frame is answered at once, as a request; then each push waits for data.
        response = await this.port({
          userId,
          deviceId,
          body,
          pos,
          timeoutMs: first ? 0 : PUSH_WAIT_MS,
          // Never further than the client confirmed: a pushed frame may be lost with the socket.
          toDeviceAcknowledged: () => this.toDeviceAcked ?? "0",
          aborted,
        });
      } catch (err) {
        if (!this.live(generation)) return;
        if (err instanceof MatrixError) this.error(frame.id, err.errcode, err.message);
        else {
          this.host.logger.error({ err }, "ws sliding sync failed");
          this.error(frame.id, "M_UNKNOWN", "Internal error");
        }
        this.end(generation);
        return;
      }
      if (!this.live(generation)) return;
      this.host.send({ type: "sliding_sync", id: frame.id, since: pos, body: response });
      const nextBatch = toDeviceOf(response)?.next_batch;
      const toDeviceNext = typeof nextBatch === "string" ? nextBatch : null;
      this.last = { connId, pos: response.pos, toDevice: toDeviceNext };
      if (toDeviceNext !== null) this.remember(response.pos, toDeviceNext);
      pos = response.pos;
      body = nextBody(body, toDeviceNext);
      first = false;
      if (frame.wait_for_ack) await this.acknowledged(response.pos, aborted);
    }
  }

  private acknowledged(pos: string, aborted: Promise<void>): Promise<void> {
    return new Promise<void>((resolve) => {
      const wake = () => {
        if (this.awaitingAck?.wake === wake) this.awaitingAck = null;
        resolve();
      };
      this.awaitingAck = { pos, wake };
      void aborted.then(wake);
    });
  }

  private remember(pos: string, toDeviceNext: string): void {
    this.unacked.set(pos, toDeviceNext);
    // A client that never acknowledges keeps its messages (they are sent again after a resume).
    if (this.unacked.size > MAX_UNACKED) this.unacked.delete(this.unacked.keys().next().value!);
  }

  private end(generation: number): void {
    if (generation !== this.generation) return;
    this.releasePresence?.();
    this.releasePresence = null;
  }

  private error(id: string, errcode: string, error: string): void {
    this.host.send({ type: "error", id, errcode, error });
  }
}

/**
 * The body of the next request, as a client would send it after a response: its txn_id was
 * answered, and to_device's `since` moves to the `next_batch` received (the same `since` again
 * would deliver the same messages again).
 */
function nextBody(body: Record<string, unknown>, toDeviceNext: string | null): Record<string, unknown> {
  const { txn_id: _x, ...next } = body;
  return toDeviceNext !== null && toDeviceOf(next) ? withToDeviceSince(next, toDeviceNext) : next;
}

/** `extensions.to_device` of a request or a response body. */
function toDeviceOf(body: Record<string, unknown>): Record<string, unknown> | undefined {
  const t = (body.extensions as { to_device?: unknown } | null | undefined)?.to_device;
  return t !== null && typeof t === "object" ? (t as Record<string, unknown>) : undefined;
}

function withToDeviceSince(body: Record<string, unknown>, since: string): Record<string, unknown> {
  const ext = body.extensions as Record<string, unknown>;
  return { ...body, extensions: { ...ext, to_device: { ...toDeviceOf(body), since } } };
}
