import { z } from "zod";
import type { Notifier } from "../../sync/notifier.ts";
import type { EphemeralClock } from "../../sync/token.ts";

/** A room's entry stays after typing stops: its serial tells syncs that it stopped. */
type RoomTyping = { users: Map<string, NodeJS.Timeout>; changedAt: number };

const sharedTyping = z.object({
  room: z.string().max(255),
  user: z.string().max(255),
  typing: z.boolean(),
  timeout: z.number().int().nonnegative(),
});

/** Longest a client may claim to be typing without renewing. */
export const MAX_TYPING_TIMEOUT_MS = 120_000;

/**
 * Who is typing, per room, in memory (typing is ephemeral by spec). Each change takes a serial of
 * the ephemeral clock — the second part of sync tokens — and wakes the room's syncs.
 */
export class TypingService {
  private readonly rooms = new Map<string, RoomTyping>();

  constructor(
    private readonly clock: EphemeralClock,
    private readonly notifier: Notifier,
  ) {
    // The other replicas' typing changes: applied here (with their own timeout), not shared back.
    notifier.handleEphemeral("typing", (data) => {
      const t = sharedTyping.parse(data);
      this.set(t.room, t.user, t.typing, t.timeout, false);
    });
  }

  /** Starts (with a timeout) or stops typing; a no-op change is not announced again. */
  set(roomId: string, userId: string, typing: boolean, timeoutMs: number, share = true): void {
    if (share)
      this.notifier.shareEphemeral("typing", { room: roomId, user: userId, typing, timeout: timeoutMs });
    let room = this.rooms.get(roomId);
    const existing = room?.users.get(userId);
    if (existing) clearTimeout(existing);
    if (typing) {
      if (!room) {
        room = { users: new Map(), changedAt: 0 };
        this.rooms.set(roomId, room);
      }
      // Each replica expires typing itself, so its timer does not need sharing.
      const timer = setTimeout(
        () => this.set(roomId, userId, false, 0, false),
        Math.min(timeoutMs, MAX_TYPING_TIMEOUT_MS),
      );
      timer.unref();
      room.users.set(userId, timer);
      if (!existing) this.changed(roomId, room);
    } else if (room && existing) {
      room.users.delete(userId);
      this.changed(roomId, room);
    }
  }

  typers(roomId: string): string[] {
    return [...(this.rooms.get(roomId)?.users.keys() ?? [])];
  }

  /** The serial of the room's last typing change (0 if never). */
  changedAt(roomId: string): number {
    return this.rooms.get(roomId)?.changedAt ?? 0;
  }

  close(): void {
    for (const r of this.rooms.values()) for (const t of r.users.values()) clearTimeout(t);
    this.rooms.clear();
  }

  private changed(roomId: string, room: RoomTyping): void {
    room.changedAt = this.clock.next();
    this.notifier.notifyEphemeral({ roomIds: [roomId] });
  }
}
