import { z } from "zod";
import type { Notifier } from "../../sync/notifier.ts";
import type { PresencePort } from "../../sync/presence-port.ts";
import type { EphemeralClock } from "../../sync/token.ts";

export const PRESENCE_STATES = ["online", "offline", "unavailable"] as const;
export type PresenceState = (typeof PRESENCE_STATES)[number];

type Entry = {
  presence: PresenceState;
  statusMsg: string | null;
  lastActive: number;
  /** Ephemeral-clock serial of the last change a client should hear about. */
  changedAt: number;
  /** Last /sync that kept the user online (drives the idle → offline sweep). */
  lastSync: number;
};

export type PresenceEvent = { type: "m.presence"; sender: string; content: Record<string, unknown> };

/** A user counts as online while syncing; this long after their last sync they go offline. */
const SYNC_ONLINE_TIMEOUT_MS = 5 * 60_000;

const sharedPresence = z.object({
  user: z.string().max(255),
  presence: z.enum(PRESENCE_STATES),
  status_msg: z.string().max(4096).nullable(),
  last_active: z.number().int().nonnegative(),
});

/**
 * Presence in memory (it is ephemeral, like typing): changes take a serial of the ephemeral clock
 * and wake the syncs of the user's rooms (`roomsOf`).
 */
export class PresenceService implements PresencePort {
  private readonly entries = new Map<string, Entry>();
  /** Serial of the latest change of anyone. */
  private lastChange = 0;
  private readonly sweeper: NodeJS.Timeout;
  /** Open WebSocket subscriptions per user: a held user is not swept offline. */
  private readonly holds = new Map<string, number>();

  constructor(
    private readonly clock: EphemeralClock,
    private readonly notifier: Notifier,
    private readonly roomsOf: (userId: string) => Promise<string[]>,
  ) {
    this.sweeper = setInterval(() => void this.sweep(), 30_000);
    this.sweeper.unref();
    // Another replica's change. Its owner (where the user syncs) sweeps it offline and shares that,
    // so it is kept here with no local sync time.
    notifier.handleEphemeral("presence", (data) => {
      const p = sharedPresence.parse(data);
      const changedAt = this.clock.next();
      this.lastChange = changedAt;
      this.entries.set(p.user, {
        presence: p.presence,
        statusMsg: p.status_msg,
        lastActive: p.last_active,
        changedAt,
        lastSync: 0,
      });
      void this.announce(p.user);
    });
  }

  get(userId: string): Omit<Entry, "changedAt" | "lastSync"> | null {
    const e = this.entries.get(userId);
    return e ? { presence: e.presence, statusMsg: e.statusMsg, lastActive: e.lastActive } : null;
  }

  /** An explicit PUT /presence: always announced, even when only status_msg changed. */
  async set(userId: string, presence: PresenceState, statusMsg?: string | null): Promise<void> {
    const now = Date.now();
    const e = this.entries.get(userId);
    const next: Entry = {
      presence,
      statusMsg: statusMsg === undefined ? (e?.statusMsg ?? null) : statusMsg,
      lastActive: presence === "online" ? now : (e?.lastActive ?? now),
      changedAt: this.clock.next(),
      lastSync: e?.lastSync ?? 0,
    };
    this.lastChange = next.changedAt;
    this.entries.set(userId, next);
    await this.announceAndShare(userId);
  }

  /** A /sync with `set_presence`: announced only when the state changes. */
  async syncing(userId: string, presence: PresenceState): Promise<void> {
    const now = Date.now();
    const e = this.entries.get(userId);
    if (e && e.presence === presence) {
      e.lastSync = now;
      if (presence === "online") e.lastActive = now;
      return;
    }
    // "offline" on sync means "do not mark me online": it never turns an online user offline.
    if (presence === "offline") return;
    const changedAt = this.clock.next();
    this.lastChange = changedAt;
    this.entries.set(userId, {
      presence,
      statusMsg: e?.statusMsg ?? null,
      lastActive: presence === "online" ? now : (e?.lastActive ?? now),
      changedAt,
      lastSync: now,
    });
    await this.announceAndShare(userId);
  }

  /**
   * An open WebSocket subscription: the user is syncing for as long as it lasts. The release
   * starts the idle countdown to offline, as a last /sync would.
   */
  hold(userId: string, presence: PresenceState): () => void {
    this.holds.set(userId, (this.holds.get(userId) ?? 0) + 1);
    void this.syncing(userId, presence);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const n = (this.holds.get(userId) ?? 1) - 1;
      if (n <= 0) this.holds.delete(userId);
      else this.holds.set(userId, n);
      const e = this.entries.get(userId);
      if (e) e.lastSync = Date.now();
    };
  }

  /** Whether any user's presence changed in (since, to]: lets a sync skip looking up room peers. */
  changedIn(since: number | null, to: number): boolean {
    if (since !== null && this.lastChange <= since) return false;
    for (const e of this.entries.values())
      if (e.changedAt <= to && (since === null || e.changedAt > since)) return true;
    return false;
  }

  /** m.presence events of `users` changed in (since, to] (all known ones when since is null). */
  events(users: Iterable<string>, since: number | null, to: number): PresenceEvent[] {
    const now = Date.now();
    const out: PresenceEvent[] = [];
    for (const userId of users) {
      const e = this.entries.get(userId);
      if (!e || e.changedAt > to || (since !== null && e.changedAt <= since)) continue;
      out.push({ type: "m.presence", sender: userId, content: this.content(e, now) });
    }
    return out;
  }

  /**
   * The current presence of `users` whatever its age, "offline" for those never seen (Synapse's
   * default state): what a client learns of people it newly shares a room with.
   */
  current(users: Iterable<string>, to: number): PresenceEvent[] {
    const now = Date.now();
    const out: PresenceEvent[] = [];
    for (const userId of users) {
      const e = this.entries.get(userId);
      const content = e && e.changedAt <= to ? this.content(e, now) : { presence: "offline" };
      out.push({ type: "m.presence", sender: userId, content });
    }
    return out;
  }

  content(e: Omit<Entry, "changedAt" | "lastSync">, now = Date.now()): Record<string, unknown> {
    return {
      presence: e.presence,
      last_active_ago: Math.max(0, now - e.lastActive),
      currently_active: e.presence === "online",
      ...(e.statusMsg !== null ? { status_msg: e.statusMsg } : {}),
    };
  }

  close(): void {
    clearInterval(this.sweeper);
  }

  /** Wakes the syncs here of those who see the user, and tells the other replicas. */
  private async announceAndShare(userId: string): Promise<void> {
    const e = this.entries.get(userId);
    if (e) {
      this.notifier.shareEphemeral("presence", {
        user: userId,
        presence: e.presence,
        status_msg: e.statusMsg,
        last_active: e.lastActive,
      });
    }
    await this.announce(userId);
  }

  private async announce(userId: string): Promise<void> {
    const rooms = await this.roomsOf(userId).catch(() => []);
    this.notifier.notifyEphemeral({ userIds: [userId], roomIds: rooms });
  }

  private async sweep(): Promise<void> {
    const cutoff = Date.now() - SYNC_ONLINE_TIMEOUT_MS;
    for (const [userId, e] of this.entries) {
      if (e.presence !== "offline" && e.lastSync > 0 && e.lastSync < cutoff && !this.holds.has(userId)) {
        e.presence = "offline";
        e.changedAt = this.clock.next();
        this.lastChange = e.changedAt;
        await this.announceAndShare(userId);
      }
    }
  }
}
