import type { Notifier } from "./notifier.ts";
import { responseHasData, type SyncRequest, type SyncResponse, type SyncStreamProvider } from "./provider.ts";
import type { StreamPositions } from "./stream-positions.ts";
import { type EphemeralClock, formatSyncToken, parseSyncToken, type SyncToken } from "./token.ts";

export type SyncOptions = {
  userId: string;
  deviceId: string;
  since: string | null;
  timeoutMs: number;
  fullState: boolean;
  filter: Record<string, unknown>;
  /** Resolves when the caller goes away: the long-poll ends early. */
  aborted?: Promise<void>;
};

/**
 * Builds sync responses from the registered stream providers. `/sync` and the WebSocket transport
 * are two ways of asking it. The window is fixed first — (since, to] with `to` the safe stream
 * position — so a provider never reads a write that a later window could skip.
 */
export class SyncEngine {
  private draining = false;
  /** Ends the wait of each long-poll in flight (drain); a set, not one shared promise, so a
   * finished request leaves nothing attached behind it. */
  private readonly polling = new Set<() => void>();

  constructor(
    private readonly providers: SyncStreamProvider[],
    private readonly streams: StreamPositions,
    private readonly notifier: Notifier,
    private readonly ephemeral: EphemeralClock,
    /** Rooms the user is joined to or invited to, whose writes should wake the user's sync. */
    private readonly roomsOf: (userId: string) => Promise<string[]>,
  ) {}

  /**
   * Shutdown (SIGTERM): long-polls in flight answer now with what they have (usually nothing) and
   * the current next_batch, so clients carry on from it elsewhere instead of seeing a reset socket.
   */
  drain(): void {
    this.draining = true;
    for (const stop of this.polling) stop();
  }

  currentToken(): SyncToken {
    return { stream: this.streams.current(), typing: this.ephemeral.current() };
  }

  /** Tells providers the device has everything up to `position` (deletes delivered to-device). */
  async acknowledge(userId: string, deviceId: string, position: number): Promise<void> {
    for (const p of this.providers) await p.acknowledge?.(userId, deviceId, position);
  }

  async sync(opts: SyncOptions): Promise<SyncResponse> {
    const since = opts.since === null ? null : parseSyncToken(opts.since);
    if (since) await this.acknowledge(opts.userId, opts.deviceId, since.stream);
    const deadline = Date.now() + Math.max(0, opts.timeoutMs);
    let stop!: () => void;
    const stopped = new Promise<void>((r) => {
      stop = r;
    });
    opts.aborted?.then(stop);
    this.polling.add(stop);
    try {
      for (;;) {
        const to = this.currentToken();
        const response = await this.compute({
          userId: opts.userId,
          deviceId: opts.deviceId,
          since,
          to,
          fullState: opts.fullState,
          filter: opts.filter,
        });
        const remaining = deadline - Date.now();
        if (since === null || opts.fullState || remaining <= 0 || this.draining || responseHasData(response))
          return response;
        const rooms = await this.roomsOf(opts.userId);
        // Something may have committed between computing and registering the waiter: check first.
        const now = this.currentToken();
        if (now.stream !== to.stream || now.typing !== to.typing) continue;
        const woken = await this.notifier.wait(opts.userId, rooms, remaining, stopped);
        if (!woken) {
          const last = this.currentToken();
          if (last.stream === to.stream && last.typing === to.typing) return response;
        }
      }
    } finally {
      this.polling.delete(stop);
    }
  }

  /** One window's response, without waiting. */
  async compute(req: SyncRequest): Promise<SyncResponse> {
    const response: SyncResponse = { next_batch: formatSyncToken(req.to) };
    if (req.changes === undefined) {
      req.changes =
        req.since && !req.fullState
          ? this.notifier.changes.since(Math.min(req.since.stream, req.to.stream))
          : null;
    }
    for (const p of this.providers) await p.fill(req, response);
    return response;
  }
}
