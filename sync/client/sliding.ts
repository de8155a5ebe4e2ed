/** A sliding sync response (MSC4186) as the socket pushes it, `pos` included. */
export type SlidingBody = Record<string, unknown> & { pos: string };
export type SlidingHandler = (body: SlidingBody, meta: { since: string | null }) => void | Promise<void>;

/**
 * The client side of the socket's sliding sync subscription (docs/sync-protocol.md §4a): the
 * body, the pos of the last response processed and the to_device cursor, which is what a
 * changed body or a reconnect resumes from. Frames always name their pos and ask the server to
 * wait for each acknowledgement, so the pos held here is always one the server still keeps.
 */
export class SlidingSession {
  private body: Record<string, unknown> | null = null;
  private id: string | null = null;
  private count = 0;
  private toDeviceSince: string | null = null;
  /** The pos of the last response processed (null: the next frame starts a new connection). */
  pos: string | null = null;

  /** The frame that starts or replaces the subscription. */
  start(body: Record<string, unknown>, pos: string | null | undefined): Record<string, unknown> {
    if (pos !== undefined) this.pos = pos;
    this.body = body;
    return this.frame()!;
  }

  /** The frame that (re)starts the current subscription from what was processed; null: none. */
  frame(): Record<string, unknown> | null {
    if (!this.body) return null;
    this.id = `sliding-${++this.count}`;
    let body = this.body;
    const ext = body.extensions as { to_device?: Record<string, unknown> | null } | null | undefined;
    if (this.toDeviceSince !== null && ext?.to_device) {
      body = { ...body, extensions: { ...ext, to_device: { ...ext.to_device, since: this.toDeviceSince } } };
    }
    return { type: "sliding_sync", id: this.id, pos: this.pos, body, wait_for_ack: true };
  }

  isCurrent(id: string | undefined): boolean {
    return id !== undefined && id === this.id;
  }

  /** A response of the current subscription that continues from what was processed. */
  accepts(f: { id: string; since: string | null }): boolean {
    return f.id === this.id && f.since === this.pos;
  }

  processed(body: SlidingBody): void {
    this.pos = body.pos;
    const next = (body.extensions as { to_device?: { next_batch?: unknown } } | undefined)?.to_device
      ?.next_batch;
    if (typeof next === "string") this.toDeviceSince = next;
  }

  /** M_UNKNOWN_POS: start over (to_device keeps its own cursor across pos resets). */
  reset(): Record<string, unknown> | null {
    this.pos = null;
    return this.frame();
  }
}
