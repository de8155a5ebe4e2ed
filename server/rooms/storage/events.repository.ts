import { type Expression, type RawBuilder, type SqlBool, sql } from "kysely";
import type { RoomsDb, RoomsExecutor } from "../tables.ts";
import { EVENT_COLUMNS, EVENT_COLUMNS_M, type EventFilter, type EventRow } from "./rows.ts";

/** Reads of stored room events: single events, pages, and the newest events of many rooms. */
export class EventsRepository {
  constructor(private readonly db: RoomsDb) {}

  async getEvent(eventId: string): Promise<EventRow | null> {
    const row = await this.db
      .selectFrom("messages")
      .select(EVENT_COLUMNS)
      .where("event_id", "=", eventId)
      .executeTakeFirst();
    return row ?? null;
  }

  async eventInRoom(roomId: string, eventId: string): Promise<boolean> {
    const row = await this.db
      .selectFrom("messages")
      .select("event_id")
      .where("event_id", "=", eventId)
      .where("room_id", "=", roomId)
      .executeTakeFirst();
    return row !== undefined;
  }

  /** The event at a room's head: the head's position names it whatever committed since. */
  async eventAt(
    roomId: string,
    position: number,
    db: RoomsExecutor = this.db,
  ): Promise<{ event_id: string; depth: number; stream_position: number } | null> {
    const row = await db
      .selectFrom("messages")
      .select(["event_id", "depth", "stream_position"])
      .where("room_id", "=", roomId)
      .where("stream_position", "=", position)
      .executeTakeFirst();
    return row ? { ...row, depth: Number(row.depth), stream_position: Number(row.stream_position) } : null;
  }

  /** eventAt for many rooms at once (each room's event at its own position), by room. */
  async eventsAt(
    heads: readonly { roomId: string; position: number }[],
  ): Promise<Map<string, { event_id: string; depth: number; stream_position: number }>> {
    const out = new Map<string, { event_id: string; depth: number; stream_position: number }>();
    if (heads.length === 0) return out;
    const rows = await this.db
      .selectFrom("messages")
      .select(["room_id", "event_id", "depth", "stream_position"])
      .where(
        "room_id",
        "in",
        heads.map((h) => h.roomId),
      )
      .where(
        "stream_position",
        "in",
        heads.map((h) => h.position),
      )
      .execute();
    const wanted = new Map(heads.map((h) => [h.roomId, h.position]));
    for (const r of rows) {
      const position = Number(r.stream_position);
      if (wanted.get(r.room_id) !== position) continue;
      out.set(r.room_id, { event_id: r.event_id, depth: Number(r.depth), stream_position: position });
    }
    return out;
  }

  /**
   * A page of room events from a boundary: `dir` b returns events at or below `from`, newest first;
   * f returns events above `from`, oldest first. `to` bounds the other end (exclusive like `from`).
   */
  async page(
    roomId: string,
    opts: {
      from: number;
      dir: "b" | "f";
      limit: number;
      to?: number;
      filter?: EventFilter;
    },
  ): Promise<EventRow[]> {
    const f = filterSql(opts.filter);
    const { to } = opts;
    const q = this.db
      .selectFrom("messages")
      .select(EVENT_COLUMNS)
      .where("room_id", "=", roomId)
      .$if(f !== null, (qb) => qb.where(f!));
    if (opts.dir === "b") {
      return q
        .where("stream_position", "<=", opts.from)
        .$if(to !== undefined, (qb) => qb.where("stream_position", ">", to!))
        .orderBy("stream_position", "desc")
        .limit(opts.limit)
        .execute();
    }
    return q
      .where("stream_position", ">", opts.from)
      .$if(to !== undefined, (qb) => qb.where("stream_position", "<=", to!))
      .orderBy("stream_position", "asc")
      .limit(opts.limit)
      .execute();
  }

  /**
   * The newest events in (since, to] of each room, up to `limit` per room (one query: a lateral
   * index scan per room), newest first within a room.
   */
  async recentEvents(
    roomIds: string[],
    since: number,
    to: Map<string, number> | number,
    limit: number,
    filter?: EventFilter,
  ): Promise<EventRow[]> {
    if (roomIds.length === 0) return [];
    const f = filterSql(filter, "m.");
    const tos = roomIds.map((id) => (typeof to === "number" ? to : (to.get(id) ?? 0)));
    const r =
      await sql<EventRow>`SELECT ${EVENT_COLUMNS_M} FROM unnest(${roomIds}::text[], ${tos}::bigint[]) AS r(room_id, upto)
      CROSS JOIN LATERAL (SELECT * FROM messages m WHERE m.room_id = r.room_id
        AND m.stream_position > ${since} AND m.stream_position <= r.upto${f ? sql` AND ${f}` : sql``}
        ORDER BY m.stream_position DESC LIMIT ${limit}) m`.execute(this.db);
    return r.rows;
  }

  /**
   * Each room's newest event position at or below `upto`, of the given types when `types` is set
   * (one backwards index scan per room, stopping at the first match).
   */
  async lastPositions(
    roomIds: string[],
    upto: number,
    types?: readonly string[],
  ): Promise<Map<string, number>> {
    const out = new Map<string, number>();
    if (roomIds.length === 0) return out;
    const typeCond = types ? sql` AND m.type = ANY(${[...types]}::text[])` : sql``;
    const r = await sql<{ room_id: string; p: string | number | null }>`SELECT r.room_id,
        (SELECT m.stream_position FROM messages m WHERE m.room_id = r.room_id
          AND m.stream_position <= ${upto}${typeCond} ORDER BY m.stream_position DESC LIMIT 1) AS p
      FROM unnest(${roomIds}::text[]) AS r(room_id)`.execute(this.db);
    for (const row of r.rows) if (row.p !== null) out.set(row.room_id, Number(row.p));
    return out;
  }

  /** Events by id (those that exist). */
  async eventsByIds(eventIds: string[]): Promise<EventRow[]> {
    if (eventIds.length === 0) return [];
    return this.db.selectFrom("messages").select(EVENT_COLUMNS).where("event_id", "in", eventIds).execute();
  }

  /** Rooms among `roomIds` with any event in (since, to]. */
  async roomsWithEvents(roomIds: string[], since: number, to: number): Promise<Set<string>> {
    if (roomIds.length === 0) return new Set();
    const r = await sql<{ room_id: string }>`SELECT r.room_id FROM unnest(${roomIds}::text[]) AS r(room_id)
      WHERE EXISTS (SELECT 1 FROM messages m WHERE m.room_id = r.room_id
        AND m.stream_position > ${since} AND m.stream_position <= ${to})`.execute(this.db);
    return new Set(r.rows.map((x) => x.room_id));
  }
}

function likeOrEq(col: RawBuilder<unknown>, pattern: string): RawBuilder<SqlBool> {
  // Filter types may end in `*` as a wildcard (spec: "A '*' can be used as a wildcard").
  if (pattern.includes("*")) {
    const like = pattern.replace(/[\\%_]/g, (c) => `\\${c}`).replace(/\*/g, "%");
    return sql<SqlBool>`${col} LIKE ${like}`;
  }
  return sql<SqlBool>`${col} = ${pattern}`;
}

/** The filter as one condition (null: no condition); `prefix` qualifies the columns. */
function filterSql(f: EventFilter | undefined, prefix = ""): Expression<SqlBool> | null {
  if (!f) return null;
  const parts: RawBuilder<SqlBool>[] = [];
  const typeCol = sql.raw(`${prefix}type`);
  const senderCol = sql.raw(`${prefix}sender`);
  if (f.types) {
    if (f.types.length === 0) parts.push(sql<SqlBool>`false`);
    else
      parts.push(
        sql<SqlBool>`(${sql.join(
          f.types.map((t) => likeOrEq(typeCol, t)),
          sql` OR `,
        )})`,
      );
  }
  if (f.notTypes && f.notTypes.length > 0) {
    parts.push(
      sql<SqlBool>`NOT (${sql.join(
        f.notTypes.map((t) => likeOrEq(typeCol, t)),
        sql` OR `,
      )})`,
    );
  }
  if (f.senders) {
    if (f.senders.length === 0) parts.push(sql<SqlBool>`false`);
    else parts.push(sql<SqlBool>`${senderCol} IN (${sql.join(f.senders)})`);
  }
  if (f.notSenders && f.notSenders.length > 0)
    parts.push(sql<SqlBool>`${senderCol} NOT IN (${sql.join(f.notSenders)})`);
  if (parts.length === 0) return null;
  return sql<SqlBool>`${sql.join(parts, sql` AND `)}`;
}
