import { randomUUID } from "node:crypto";
import type { Kysely, Transaction } from "kysely";
import { DedupRepository } from "./dedup.repository.ts";
import { PushQueueRepository } from "./delivery/queue.repository.ts";
import { NotificationsRepository, type ThreadScope } from "./notifications.repository.ts";
import { type Preferences, PreferencesRepository, pairKey } from "./preferences.repository.ts";
import { Pushers } from "./pushers.ts";
import type { NotificationKind, NotificationsTables } from "./tables.ts";

type Trx = Transaction<NotificationsTables>;
type Db = Kysely<NotificationsTables> | Trx;

/** Rows per statement: well under PostgreSQL's 65535 bind parameters at 11 columns a row. */
const CHUNK = 500;

/** The badge, for a reader without the service (the delivery worker); rule on NotificationsService. */
export function unreadRoomCount(db: Kysely<NotificationsTables>, userId: string): Promise<number> {
  return new NotificationsRepository(db).badge(db, userId);
}

export type NotifyInput = {
  userId: string;
  kind: NotificationKind;
  /** The bus event (envelope id) that caused it. */
  sourceEventId: string | null;
  /** The same (user, key) notifies at most once inside the dedup window. */
  dedupKey: string;
  body: Record<string, unknown>;
  roomEvent?: {
    roomId: string;
    eventId: string;
    streamPosition: number;
    highlight: boolean;
    actions: unknown[];
  };
  push: boolean;
};

export type NotifyResult =
  | { stored: false; reason: "disabled" | "duplicate" }
  | { stored: true; notificationId: string; deliveries: number };

export type MarkReadResult = { marked: number; badgeDropped: boolean };

export type NotificationsServiceOptions = {
  dedupWindowMs: number;
  /** Deliveries were committed outside a consumer (an HTTP mark-read): wake the delivery worker. */
  onEnqueued?: () => void;
  now?: () => number;
};

/**
 * The notifications store: what consumers call to notify a user and to mark notifications read,
 * and what the HTTP routes and the delivery worker read.
 *
 * The badge (`unreadRoomCount`): the number of rooms holding at least one unread room
 * notification, plus one for each unread notification that is not about a room (social kinds).
 * It is what Synapse sends as `counts.unread` with its default of grouping by room, extended to
 * the notifications Nova has beyond rooms.
 */
export class NotificationsService {
  readonly pushers: Pushers;
  readonly notifications: NotificationsRepository;
  readonly preferences: PreferencesRepository;
  private readonly dedup: DedupRepository;
  private readonly queue: PushQueueRepository;
  private readonly now: () => number;

  constructor(
    readonly db: Kysely<NotificationsTables>,
    private readonly options: NotificationsServiceOptions,
  ) {
    this.now = options.now ?? Date.now;
    this.pushers = new Pushers(db, this.now);
    this.notifications = new NotificationsRepository(db);
    this.preferences = new PreferencesRepository(db);
    this.dedup = new DedupRepository(db);
    this.queue = new PushQueueRepository(db);
  }

  /**
   * Stores a notification and queues its pushes, in the caller's transaction so both commit with
   * the event that caused them. A disabled kind stores and pushes nothing.
   */
  async notify(trx: Trx, n: NotifyInput): Promise<NotifyResult> {
    const [result] = await this.notifyMany(trx, [n]);
    return result!;
  }

  /**
   * `notify` for many at once (one room event's recipients): a fixed number of statements per
   * chunk whatever the room's size. Results are in input order.
   */
  async notifyMany(trx: Trx, inputs: NotifyInput[]): Promise<NotifyResult[]> {
    const results: NotifyResult[] = [];
    for (let i = 0; i < inputs.length; i += CHUNK) {
      results.push(...(await this.notifyChunk(trx, inputs.slice(i, i + CHUNK))));
    }
    return results;
  }

  private async notifyChunk(trx: Trx, inputs: NotifyInput[]): Promise<NotifyResult[]> {
    const now = this.now();
    const off = await this.preferences.disabled(trx, inputs);
    const wanted = inputs.filter((n) => !off.has(pairKey(n.userId, n.kind)));
    // A room event is stored once per user by the (user_id, event_id) unique index, forever: the
    // window table is for the rest (social notifications), which have no such key. Skipping it
    // saves a write per recipient of every room event.
    const windowed = wanted.filter((n) => !n.roomEvent);
    const won = await this.dedup.claim(
      trx,
      windowed.map((n) => ({ userId: n.userId, key: n.dedupKey })),
      now,
      this.options.dedupWindowMs,
    );
    const claimed = new Map<NotifyInput, string>();
    for (const n of wanted) {
      if (n.roomEvent) {
        claimed.set(n, randomUUID());
        continue;
      }
      const k = pairKey(n.userId, n.dedupKey);
      // The first of two inputs with one key wins it; the second is the duplicate.
      if (won.delete(k)) claimed.set(n, randomUUID());
    }
    const stored = await this.notifications.insert(
      trx,
      [...claimed].map(([n, id]) => ({
        id,
        userId: n.userId,
        kind: n.kind,
        sourceEventId: n.sourceEventId,
        body: n.body,
        room: n.roomEvent ?? null,
        createdAt: now,
      })),
    );
    const pushing = [...claimed].filter(([n, id]) => n.push && stored.has(id));
    const targets = await this.pushers.repo.targetsOf(
      trx,
      pushing.map(([n]) => n.userId),
    );
    const deliveries = pushing.flatMap(([n, id]) =>
      (targets.get(n.userId) ?? []).map((t) => ({ userId: n.userId, ...t, notificationId: id })),
    );
    await this.queue.enqueue(trx, deliveries, now);
    return inputs.map((n): NotifyResult => {
      if (off.has(pairKey(n.userId, n.kind))) return { stored: false, reason: "disabled" };
      const id = claimed.get(n);
      // Past the window the dedup key is free again, but a room event is still stored once per user.
      if (id === undefined || !stored.has(id)) return { stored: false, reason: "duplicate" };
      return {
        stored: true,
        notificationId: id,
        deliveries: n.push ? (targets.get(n.userId)?.length ?? 0) : 0,
      };
    });
  }

  /** A receipt (or the user's own event, or leaving): the room's notifications up to `upTo` are read. */
  async markRoomRead(
    trx: Trx,
    p: { userId: string; roomId: string; upTo: number; scope?: ThreadScope },
  ): Promise<MarkReadResult> {
    const marked = await this.notifications.markRoomRead(
      trx,
      p.userId,
      p.roomId,
      p.upTo,
      p.scope ?? { kind: "room" },
      this.now(),
    );
    const badgeDropped = marked > 0 && !(await this.notifications.hasUnreadInRoom(trx, p.userId, p.roomId));
    if (badgeDropped) await this.enqueueBadge(trx, p.userId);
    return { marked, badgeDropped };
  }

  /**
   * Several whole rooms read at once (each sender of a batch of events read their room): the
   * badge rule of `markRoomRead` for all of them in a fixed number of statements, whatever the
   * number of reads: the update, the pushers of the users one of whose rooms is now read through,
   * and one enqueue of their badge updates (one per pusher, however many of their rooms emptied).
   */
  async markRoomsRead(trx: Trx, reads: { userId: string; roomId: string; upTo: number }[]): Promise<void> {
    const now = this.now();
    const marked = await this.notifications.markRoomsRead(trx, reads, now);
    // Only a pair that had something marked can have lowered the badge.
    const targets = await this.pushers.repo.targetsOfEmptied(
      trx,
      marked.map((m) => ({ userId: m.user_id, roomId: m.room_id })),
    );
    await this.queue.enqueue(
      trx,
      [...targets].flatMap(([userId, ts]) =>
        ts.map((t) => ({ userId, appId: t.appId, pushkey: t.pushkey, notificationId: null })),
      ),
      now,
    );
  }

  /** `POST /_nova/v1/notifications/read`: its own transaction; wakes the worker if it queued a badge. */
  async markRead(userId: string, ids: string[] | "all"): Promise<MarkReadResult> {
    let queued = 0;
    const result = await this.db.transaction().execute(async (trx) => {
      const rooms = await this.notifications.markRead(trx, userId, ids, this.now());
      const badgeDropped = await this.roomsEmptied(trx, userId, rooms);
      if (badgeDropped) queued = await this.enqueueBadge(trx, userId);
      return { marked: rooms.length, badgeDropped };
    });
    if (queued > 0) this.options.onEnqueued?.();
    return result;
  }

  /** The badge the delivery worker sends as `counts.unread` (rule in the class comment). */
  unreadRoomCount(userId: string, db: Db = this.db): Promise<number> {
    return this.notifications.badge(db, userId);
  }

  async setPreferences(userId: string, changes: Partial<Preferences>): Promise<Preferences> {
    await this.preferences.set(this.db, userId, changes);
    return this.preferences.get(userId);
  }

  /** Deletes dedup keys past the window (they no longer suppress anything). */
  pruneDedup(): Promise<number> {
    return this.dedup.prune(this.now() - this.options.dedupWindowMs);
  }

  /** Whether marking these rooms' (null: outside a room) notifications read lowered the badge. */
  private async roomsEmptied(trx: Trx, userId: string, rooms: (string | null)[]): Promise<boolean> {
    if (rooms.includes(null)) return true;
    const inRooms = new Set(rooms.filter((r): r is string => r !== null));
    const pairs = [...inRooms].map((roomId) => ({ userId, roomId }));
    const unread = await this.notifications.stillUnread(trx, pairs);
    return pairs.some((p) => !unread.has(pairKey(p.userId, p.roomId)));
  }

  /** One badge-only delivery per pusher of the user. */
  private async enqueueBadge(trx: Trx, userId: string): Promise<number> {
    const targets = (await this.pushers.repo.targetsOf(trx, [userId])).get(userId) ?? [];
    await this.queue.enqueue(
      trx,
      targets.map((t) => ({ userId, appId: t.appId, pushkey: t.pushkey, notificationId: null })),
      this.now(),
    );
    return targets.length;
  }
}
