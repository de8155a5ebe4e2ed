import { type ExpressionBuilder, type Kysely, type Selectable, sql, type Transaction } from "kysely";
import { pairKey } from "./preferences.repository.ts";
import type { NotificationKind, NotificationsTables } from "./tables.ts";

type Db = Kysely<NotificationsTables> | Transaction<NotificationsTables>;

export type NotificationRow = Selectable<NotificationsTables["notifications"]>;

export type NewNotification = {
  id: string;
  userId: string;
  kind: NotificationKind;
  sourceEventId: string | null;
  body: Record<string, unknown>;
  room: {
    roomId: string;
    eventId: string;
    streamPosition: number;
    highlight: boolean;
    actions: unknown[];
  } | null;
  createdAt: number;
};

/** Which of a room's notifications a receipt covers. */
export type ThreadScope = { kind: "room" } | { kind: "main" } | { kind: "thread"; rootId: string };

export type Page = { userId: string; before: number | null; limit: number };

/** All SQL on `notifications`. */
export class NotificationsRepository {
  constructor(private readonly db: Kysely<NotificationsTables>) {}

  /**
   * Returns the ids stored: a user's second notification for one room event is not. One statement
   * with a parameter per column (unnest), not per cell: a room event's recipients arrive together,
   * and building, parsing and binding a VALUES list of them cost more than storing them. The
   * recipients of one event share its body object: each distinct body (and actions list) travels
   * once, in one JSON array the rows pick from by index.
   */
  async insert(trx: Db, items: NewNotification[]): Promise<Set<string>> {
    if (items.length === 0) return new Set();
    const docs: string[] = [];
    const indexOf = new Map<object, number>();
    const ref = (v: object) => {
      let i = indexOf.get(v);
      if (i === undefined) {
        i = docs.length;
        docs.push(JSON.stringify(v));
        indexOf.set(v, i);
      }
      return i;
    };
    const c = {
      id: [] as string[],
      user: [] as string[],
      kind: [] as string[],
      source: [] as (string | null)[],
      body: [] as number[],
      room: [] as (string | null)[],
      event: [] as (string | null)[],
      position: [] as (number | null)[],
      highlight: [] as boolean[],
      actions: [] as (number | null)[],
      created: [] as number[],
    };
    for (const n of items) {
      c.id.push(n.id);
      c.user.push(n.userId);
      c.kind.push(n.kind);
      c.source.push(n.sourceEventId);
      c.body.push(ref(n.body));
      c.room.push(n.room?.roomId ?? null);
      c.event.push(n.room?.eventId ?? null);
      c.position.push(n.room?.streamPosition ?? null);
      c.highlight.push(n.room?.highlight ?? false);
      c.actions.push(n.room ? ref(n.room.actions) : null);
      c.created.push(n.createdAt);
    }
    const { rows } = await sql<{ id: string }>`
      WITH d AS (SELECT ${`[${docs.join(",")}]`}::jsonb AS docs)
      INSERT INTO notifications (id, user_id, kind, source_event_id, body, room_id, event_id,
        stream_position, highlight, actions, created_at)
      SELECT u.id, u.user_id, u.kind, u.source_event_id, d.docs -> u.body, u.room_id, u.event_id,
        u.stream_position, u.highlight, d.docs -> u.actions, u.created_at
      FROM d, unnest(${c.id}::uuid[], ${c.user}::text[], ${c.kind}::text[], ${c.source}::uuid[],
        ${c.body}::int[], ${c.room}::text[], ${c.event}::text[], ${c.position}::bigint[],
        ${c.highlight}::boolean[], ${c.actions}::int[], ${c.created}::bigint[])
        AS u(id, user_id, kind, source_event_id, body, room_id, event_id, stream_position,
          highlight, actions, created_at)
      ON CONFLICT (user_id, event_id) WHERE event_id IS NOT NULL DO NOTHING
      RETURNING id`.execute(trx);
    return new Set(rows.map((r) => r.id));
  }

  /**
   * Matrix `/notifications`, newest first. A read notification that is not a highlight is left
   * out: Synapse deletes those push actions once a receipt passes them, and clients (and the
   * reference suite) expect a receipt to empty the list of plain notifications.
   */
  matrixPage(p: Page & { onlyHighlight: boolean }): Promise<NotificationRow[]> {
    let q = this.db
      .selectFrom("notifications")
      .selectAll()
      .where("user_id", "=", p.userId)
      .where("room_id", "is not", null)
      .where((eb) => eb.or([eb("read_at", "is", null), eb("highlight", "=", true)]));
    if (p.onlyHighlight) q = q.where("highlight", "=", true);
    if (p.before !== null) q = q.where("seq", "<", p.before);
    return q.orderBy("seq", "desc").limit(p.limit).execute();
  }

  /** Nova's in-app list: every kind, newest first. */
  inAppPage(p: Page & { unreadOnly: boolean }): Promise<NotificationRow[]> {
    let q = this.db.selectFrom("notifications").selectAll().where("user_id", "=", p.userId);
    if (p.unreadOnly) q = q.where("read_at", "is", null);
    if (p.before !== null) q = q.where("seq", "<", p.before);
    return q.orderBy("seq", "desc").limit(p.limit).execute();
  }

  /** Marks a room's unread notifications up to a stream position read; returns how many. */
  async markRoomRead(
    trx: Db,
    userId: string,
    roomId: string,
    upTo: number,
    scope: ThreadScope,
    now: number,
  ): Promise<number> {
    let q = trx
      .updateTable("notifications")
      .set({ read_at: now })
      .where("user_id", "=", userId)
      .where("room_id", "=", roomId)
      .where("read_at", "is", null)
      .where("stream_position", "<=", upTo);
    const relType = sql<string | null>`body->'content'->'m.relates_to'->>'rel_type'`;
    const relTo = sql<string | null>`body->'content'->'m.relates_to'->>'event_id'`;
    if (scope.kind === "thread") {
      q = q.where(relType, "=", "m.thread").where(relTo, "=", scope.rootId);
    } else if (scope.kind === "main") {
      q = q.where((eb) => eb.or([eb(relType, "is", null), eb(relType, "<>", "m.thread")]));
    }
    const r = await q.executeTakeFirst();
    return Number(r.numUpdatedRows);
  }

  /**
   * Whole rooms read up to a position, for many (user, room) pairs in one statement (a batch of
   * events whose senders read their rooms by sending). Returns the pairs that had something marked.
   */
  async markRoomsRead(
    trx: Db,
    reads: { userId: string; roomId: string; upTo: number }[],
    now: number,
  ): Promise<{ user_id: string; room_id: string }[]> {
    if (reads.length === 0) return [];
    const r = await sql<{ user_id: string; room_id: string }>`UPDATE notifications n SET read_at = ${now}
      FROM unnest(${reads.map((x) => x.userId)}::text[], ${reads.map((x) => x.roomId)}::text[],
        ${reads.map((x) => x.upTo)}::bigint[]) AS v (user_id, room_id, up_to)
      WHERE n.user_id = v.user_id AND n.room_id = v.room_id AND n.read_at IS NULL
        AND n.stream_position <= v.up_to
      RETURNING n.user_id, n.room_id`.execute(trx);
    const seen = new Map<string, { user_id: string; room_id: string }>();
    for (const row of r.rows) seen.set(`${row.user_id}\u0000${row.room_id}`, row);
    return [...seen.values()];
  }

  /** Marks the given (or all) unread notifications of a user read; returns the rooms they were in. */
  async markRead(trx: Db, userId: string, ids: string[] | "all", now: number): Promise<(string | null)[]> {
    if (ids !== "all" && ids.length === 0) return [];
    let q = trx
      .updateTable("notifications")
      .set({ read_at: now })
      .where("user_id", "=", userId)
      .where("read_at", "is", null);
    if (ids !== "all") q = q.where("id", "in", ids);
    const rows = await q.returning("room_id").execute();
    return rows.map((r) => r.room_id);
  }

  async hasUnreadInRoom(db: Db, userId: string, roomId: string): Promise<boolean> {
    const r = await db
      .selectFrom("notifications")
      .select("id")
      .where("user_id", "=", userId)
      .where("room_id", "=", roomId)
      .where("read_at", "is", null)
      .limit(1)
      .executeTakeFirst();
    return r !== undefined;
  }

  /**
   * Which of these (user, room) pairs still hold an unread notification, as `pairKey`s: one
   * statement for any number of pairs, each an index probe that stops at the first unread row.
   */
  async stillUnread(db: Db, pairs: { userId: string; roomId: string }[]): Promise<Set<string>> {
    if (pairs.length === 0) return new Set();
    const rows = await db
      .selectFrom(pairsTable(pairs))
      .select(["v.user_id", "v.room_id"])
      .where((eb) => eb.exists(unreadOfPair(eb)))
      .execute();
    return new Set(rows.map((r) => pairKey(r.user_id, r.room_id)));
  }

  /** The badge: rooms with an unread room notification, plus each unread notification outside rooms. */
  async badge(db: Db, userId: string): Promise<number> {
    const r = await db
      .selectFrom("notifications")
      .select(
        sql<number | string>`count(distinct room_id) + count(*) filter (where room_id is null)`.as("badge"),
      )
      .where("user_id", "=", userId)
      .where("read_at", "is", null)
      .executeTakeFirst();
    return Number(r?.badge ?? 0);
  }
}

type PairRow = { user_id: string; room_id: string };

/**
 * (user, room) pairs as a table `v (user_id, room_id)` to join against: two array parameters
 * whatever the count, so no chunking under PostgreSQL's bind-parameter limit.
 */
export function pairsTable(pairs: { userId: string; roomId: string }[]) {
  return sql<PairRow>`unnest(${pairs.map((p) => p.userId)}::text[], ${pairs.map(
    (p) => p.roomId,
  )}::text[])`.as<"v">(sql`v (user_id, room_id)`);
}

/** For EXISTS: the unread notifications of row `v`'s (user, room), `v` being a `pairsTable`. */
export function unreadOfPair(eb: ExpressionBuilder<NotificationsTables & { v: PairRow }, "v">) {
  return eb
    .selectFrom("notifications as n")
    .select(sql.lit(1).as("one"))
    .whereRef("n.user_id", "=", "v.user_id")
    .whereRef("n.room_id", "=", "v.room_id")
    .where("n.read_at", "is", null);
}
