import type { ChangeIndex } from "../../sync/changes.ts";
import { ChangeGuardedCache } from "../../sync/changes.ts";
import { pduOf } from "../rooms/client-events.ts";
import { userLevel } from "../rooms/power-levels.ts";
import type { EventRow } from "../rooms/rooms.repository.ts";
import type { RoomsService } from "../rooms/service.ts";
import type { PushOutcomeMemo } from "./push-outcomes.ts";
import { evaluatePushRules, type PushContext } from "./push-rules/evaluator.ts";
import type { PushRuleset } from "./push-rules/types.ts";
import type { ReceiptRow, ReceiptsRepository } from "./receipts.repository.ts";

export type UnreadCounts = { notification_count: number; highlight_count: number };

/** What counting (and the user directory) need from the rooms area beyond RoomMembership. */
export type UnreadRoomsPort = {
  /** Rooms with join rule public or world_readable history: their members are searchable by everyone. */
  openRoomIds(): Promise<string[]>;
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

/** Counts per thread: "main" for the main timeline, else the thread root's event id. */
export type ThreadCounts = Map<string, UnreadCounts>;
/** Counts as handed out: shared with the cache, so never changed by their reader. */
export type ThreadCountsView = ReadonlyMap<string, Readonly<UnreadCounts>>;

/** Where the user has read up to: unthreaded receipts cover everything, threaded ones their thread. */
type ReadState = { from: number; threads: Map<string, number>; signature: string };

type Cached = { signature: string; upTo: number; counts: ThreadCounts };

/** The thread an event belongs to (spec "Threading": rel_type m.thread names the root). */
export function threadOf(event: Record<string, unknown>): string {
  const rel = (
    event.content as { "m.relates_to"?: { rel_type?: unknown; event_id?: unknown } } | undefined
  )?.["m.relates_to"];
  return rel?.rel_type === "m.thread" && typeof rel.event_id === "string" ? rel.event_id : "main";
}

/** Rooms counted at once by countMany. */
const COUNT_CONCURRENCY = 8;

/**
 * `unread_notifications` per joined room: the events after the user's read position that the
 * user's push rules say notify, and of those the ones that highlight. The read position is the
 * latest unthreaded m.read / m.read.private receipt (or the join when there is none); a threaded
 * receipt also clears its own thread up to its event, and so does the user's own event. Counts are kept per thread so a client that
 * asked for `unread_thread_notifications` gets them split. Computed when a sync needs it, from the
 * previous result while the receipts have not moved (only new events are evaluated).
 *
 * Simplification, stated: the room's current state (member count, power levels, display name)
 * stands for the state at each event.
 */
export class UnreadCounter {
  private readonly cache = new Map<string, Cached>();
  /** Event id → stream position (positions never change; receipts name few distinct events). */
  private readonly positions = new Map<string, number>();

  /** Each user's read receipts in every room, kept until the user writes a receipt. */
  private readonly readReceipts: ChangeGuardedCache<Map<string, ReceiptRow[]>>;

  constructor(
    private readonly rooms: UnreadRoomsPort,
    private readonly receipts: ReceiptsRepository,
    changes: { index: ChangeIndex; current(): number },
    private readonly outcomes?: PushOutcomeMemo,
  ) {
    this.readReceipts = new ChangeGuardedCache(changes.index, changes.current, "receipt");
  }

  /** Counts for several rooms, from the user's read receipts (one query, then cached). */
  async countMany(
    userId: string,
    roomIds: string[],
    upTo: number,
    ruleset: PushRuleset,
  ): Promise<Map<string, ThreadCountsView>> {
    const byRoom = await this.readReceipts.get(userId, async () =>
      groupByRoom(await this.receipts.readReceiptsOf(userId)),
    );
    const out = new Map<string, ThreadCountsView>();
    // Rooms are independent (each has its own cache entry): a few at a time, so a cold start's
    // reads overlap instead of queueing one behind the other.
    for (let i = 0; i < roomIds.length; i += COUNT_CONCURRENCY) {
      const slice = roomIds.slice(i, i + COUNT_CONCURRENCY);
      const counted = await Promise.all(
        slice.map((roomId) => this.count(userId, roomId, upTo, ruleset, byRoom.get(roomId) ?? [])),
      );
      for (const [j, roomId] of slice.entries()) out.set(roomId, counted[j]!);
    }
    return out;
  }

  async count(
    userId: string,
    roomId: string,
    upTo: number,
    ruleset: PushRuleset,
    receipts?: ReceiptRow[],
  ): Promise<ThreadCountsView> {
    const read = await this.readState(
      userId,
      roomId,
      receipts ?? (await this.receipts.readReceipts(roomId, userId)),
    );
    const key = `${userId}\u0000${roomId}`;
    const cached = this.cache.get(key);
    let after = read.from;
    const current = cached && cached.signature === read.signature && cached.upTo <= upTo;
    if (current) after = cached.upTo;
    if (after >= upTo) return current ? cached.counts : new Map();
    // Counted on a copy: the cached counts may be in a response being built.
    const counts: ThreadCounts = current ? cloneCounts(cached.counts) : new Map();
    const ctx = await this.rooms.context(roomId, userId);
    const events = ctx ? await this.rooms.eventsAfter(roomId, after, upTo, MAX_SCAN) : [];
    for (const { event, redacted, position } of events) {
      if (redacted) continue;
      const thread = threadOf(event);
      if (event.sender === userId) {
        // Sending an event marks everything before it read, like a receipt (spec "Receiving
        // notifications"); it counts for the thread it was sent in.
        counts.delete(thread);
        continue;
      }
      const threadRead = read.threads.get(thread);
      if (threadRead !== undefined && position <= threadRead) continue;
      const outcome =
        (typeof event.event_id === "string" ? this.outcomes?.get(event.event_id, userId) : undefined) ??
        evaluatePushRules(ruleset, event, {
          ...ctx!,
          senderPowerLevel: ctx!.powerOf(String(event.sender)),
        });
      if (!outcome.notify) continue;
      const c = counts.get(thread) ?? { notification_count: 0, highlight_count: 0 };
      c.notification_count++;
      if (outcome.highlight) c.highlight_count++;
      counts.set(thread, c);
    }
    // A capped scan stops at the last event seen, so the next sync continues from there.
    const last = events.length === MAX_SCAN ? events[events.length - 1]!.position : upTo;
    if (this.cache.size > 100_000) this.cache.clear();
    this.cache.set(key, { signature: read.signature, upTo: last, counts });
    return counts;
  }

  private async readState(userId: string, roomId: string, receipts: ReceiptRow[]): Promise<ReadState> {
    let from: number | null = null;
    const threads = new Map<string, number>();
    for (const r of receipts) {
      const p = await this.positionOf(roomId, r.event_id);
      if (p === null) continue;
      if (r.thread_id === "") {
        if (from === null || p > from) from = p;
      } else if (p > (threads.get(r.thread_id) ?? -1)) {
        threads.set(r.thread_id, p);
      }
    }
    from ??= (await this.rooms.membershipPosition(roomId, userId)) ?? 0;
    const signature =
      threads.size === 0
        ? String(from)
        : [from, ...[...threads].sort().map(([t, p]) => `${t}=${p}`)].join("|");
    return { from, threads, signature };
  }

  private async positionOf(roomId: string, eventId: string): Promise<number | null> {
    const key = `${roomId}\u0000${eventId}`;
    const known = this.positions.get(key);
    if (known !== undefined) return known;
    const p = await this.rooms.eventPosition(roomId, eventId);
    if (p !== null) {
      if (this.positions.size >= 100_000) this.positions.clear();
      this.positions.set(key, p);
    }
    return p;
  }
}

/**
 * The event as push rules see it. Rows from the rooms' timeline cache are shared by every member's
 * count, so their event (and its flattened form, see the evaluator) is built once.
 */
const pushEvents = new WeakMap<EventRow, Record<string, unknown>>();

function pushEventOf(r: EventRow): Record<string, unknown> {
  let event = pushEvents.get(r);
  if (!event) {
    const pdu = pduOf(r);
    event = {
      event_id: r.event_id,
      room_id: r.room_id,
      type: pdu.type,
      sender: pdu.sender,
      content: pdu.content,
      ...(pdu.state_key !== undefined ? { state_key: pdu.state_key } : {}),
    };
    pushEvents.set(r, event);
  }
  return event;
}

function groupByRoom(rows: ReceiptRow[]): Map<string, ReceiptRow[]> {
  const byRoom = new Map<string, ReceiptRow[]>();
  for (const r of rows) {
    const list = byRoom.get(r.room_id) ?? [];
    list.push(r);
    byRoom.set(r.room_id, list);
  }
  return byRoom;
}

function cloneCounts(c: ThreadCounts): ThreadCounts {
  return new Map([...c].map(([k, v]) => [k, { ...v }]));
}

/** The room total, or the main timeline plus per-thread counts (`unread_thread_notifications`). */
export function renderCounts(
  counts: ThreadCountsView,
  splitThreads: boolean,
): { unread_notifications: UnreadCounts; unread_thread_notifications?: Record<string, UnreadCounts> } {
  const total: UnreadCounts = { notification_count: 0, highlight_count: 0 };
  const threads: Record<string, UnreadCounts> = {};
  for (const [thread, c] of counts) {
    if (splitThreads && thread !== "main") {
      threads[thread] = { ...c };
      continue;
    }
    total.notification_count += c.notification_count;
    total.highlight_count += c.highlight_count;
  }
  return {
    unread_notifications: total,
    ...(splitThreads && Object.keys(threads).length > 0 ? { unread_thread_notifications: threads } : {}),
  };
}

/** The rooms service seen through the port. */
export function unreadPortOf(rooms: RoomsService): UnreadRoomsPort {
  return {
    openRoomIds: () => rooms.reads.sync.openRoomIds(),
    eventPosition: (roomId, eventId) => rooms.reads.sync.eventPosition(roomId, eventId),
    async membershipPosition(roomId, userId) {
      const snap = await rooms.snapshot(roomId);
      return snap?.get("m.room.member", userId)?.position ?? null;
    },
    async eventsAfter(roomId, after, upTo, limit) {
      const rows = await rooms.reads.sync.eventsAfter(roomId, after, upTo, limit);
      return rows.map((r) => ({
        position: Number(r.stream_position),
        redacted: r.redacted_because !== null,
        event: pushEventOf(r),
      }));
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
        memberCount: snap.count("join"),
        notificationLevels: pl.notifications,
        powerOf: (sender: string) => userLevel(pl, sender),
      };
    },
  };
}
