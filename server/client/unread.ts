import { userLevel } from "../rooms/power-levels.ts";
import type { RoomsService } from "../rooms/service.ts";
import { evaluatePushRules, type PushContext } from "./push-rules/evaluator.ts";
import type { PushRuleset } from "./push-rules/types.ts";
import type { ReceiptsRepository } from "./receipts.repository.ts";

export type UnreadCounts = { notification_count: number; highlight_count: number };

/** What counting needs from the rooms area. */
export type UnreadRoomsPort = {
  /** Stream position of an event in the room, or null. */
  eventPosition(roomId: string, eventId: string): Promise<number | null>;
  /** Stream position of the user's current membership event in the room, or null. */
  membershipPosition(roomId: string, userId: string): Promise<number | null>;
  /** Events in (after, upTo], oldest first, at most `limit`; redacted ones flagged. */
  eventsAfter(
    roomId: string,
    after: number,
    upTo: number,
    limit: number,
  ): Promise<{ position: number; redacted: boolean; event: Record<string, unknown> }[]>;
  /** The room's current push-rule inputs for a recipient (sender power is looked up per event). */
  context(
    roomId: string,
    userId: string,
  ): Promise<(Omit<PushContext, "senderPowerLevel"> & { powerOf(sender: string): number }) | null>;
};

/** Scanned events per computation; the cache makes later syncs incremental. */
const MAX_SCAN = 1000;

type Cached = { from: number; upTo: number; counts: UnreadCounts };

/**
 * `unread_notifications` per joined room: the events after the user's read position (their latest
 * m.read / m.read.private receipt, or their join when they have none) that the user's push rules
 * say notify, and of those the ones that highlight. Computed when a sync needs it, from the
 * previous result when the read position has not moved (only new events are evaluated).
 *
 * Simplifications, stated: the room's current state (member count, power levels, display name)
 * stands for the state at each event, and a threaded receipt counts as a read position for the
 * whole room.
 */
export class UnreadCounter {
  private readonly cache = new Map<string, Cached>();

  constructor(
    private readonly rooms: UnreadRoomsPort,
    private readonly receipts: ReceiptsRepository,
  ) {}

  async count(userId: string, roomId: string, upTo: number, ruleset: PushRuleset): Promise<UnreadCounts> {
    const from = await this.readPosition(userId, roomId);
    const key = `${userId}\u0000${roomId}`;
    const cached = this.cache.get(key);
    let counts: UnreadCounts = { notification_count: 0, highlight_count: 0 };
    let after = from;
    if (cached && cached.from === from && cached.upTo <= upTo) {
      counts = { ...cached.counts };
      after = cached.upTo;
    }
    if (after < upTo) {
      const ctx = await this.rooms.context(roomId, userId);
      const events = ctx ? await this.rooms.eventsAfter(roomId, after, upTo, MAX_SCAN) : [];
      for (const { event, redacted } of events) {
        if (redacted) continue;
        const outcome = evaluatePushRules(ruleset, event, {
          ...ctx!,
          senderPowerLevel: ctx!.powerOf(String(event.sender)),
        });
        if (outcome.notify) counts.notification_count++;
        if (outcome.highlight) counts.highlight_count++;
      }
      // A capped scan stops at the last event seen, so the next sync continues from there.
      const last = events.length === MAX_SCAN ? events[events.length - 1]!.position : upTo;
      this.cache.set(key, { from, upTo: last, counts: { ...counts } });
    }
    if (this.cache.size > 100_000) this.cache.clear();
    return counts;
  }

  private async readPosition(userId: string, roomId: string): Promise<number> {
    let best: number | null = null;
    for (const r of await this.receipts.readReceipts(roomId, userId)) {
      const p = await this.rooms.eventPosition(roomId, r.event_id);
      if (p !== null && (best === null || p > best)) best = p;
    }
    if (best !== null) return best;
    return (await this.rooms.membershipPosition(roomId, userId)) ?? 0;
  }
}

/** The rooms service seen through the port. */
export function unreadPortOf(rooms: RoomsService): UnreadRoomsPort {
  return {
    async eventPosition(roomId, eventId) {
      const row = await rooms.repo.getEvent(eventId);
      return row && row.room_id === roomId ? Number(row.stream_position) : null;
    },
    async membershipPosition(roomId, userId) {
      const snap = await rooms.snapshot(roomId);
      return snap?.get("m.room.member", userId)?.position ?? null;
    },
    async eventsAfter(roomId, after, upTo, limit) {
      const rows = await rooms.repo.page(roomId, { from: after, dir: "f", to: upTo, limit });
      return rows.map((r) => {
        const pdu = JSON.parse(r.pdu) as Record<string, unknown>;
        return {
          position: Number(r.stream_position),
          redacted: r.redacted_because !== null,
          event: {
            event_id: r.event_id,
            room_id: r.room_id,
            type: pdu.type,
            sender: pdu.sender,
            content: pdu.content,
            ...(pdu.state_key !== undefined ? { state_key: pdu.state_key } : {}),
          },
        };
      });
    },
    async context(roomId, userId) {
      const snap = await rooms.snapshot(roomId);
      if (!snap) return null;
      const pl = snap.powerLevels();
      const member = snap.get("m.room.member", userId)?.pdu.content;
      const displayName = typeof member?.displayname === "string" ? member.displayname : null;
      return {
        userId,
        displayName,
        memberCount: snap.members("join").length,
        notificationLevels: pl.notifications,
        powerOf: (sender: string) => userLevel(pl, sender),
      };
    },
  };
}
