import { sql } from "kysely";
import type { RoomsDb, RoomsExecutor } from "../tables.ts";
import { EVENT_COLUMNS_M, type EventRow } from "./rows.ts";

/** How far GET /relations?recurse=true follows relations of relations (Synapse's depth). */
export const RELATIONS_RECURSION_DEPTH = 3;

export type RelationsPageQuery = {
  relType?: string;
  eventType?: string;
  from: number;
  to?: number;
  dir: "b" | "f";
  limit: number;
  recurse: boolean;
};

/** An event whose relations are aggregated: its sender and type decide which edits are valid. */
export type AggregationTarget = { eventId: string; sender: string; type: string };

/**
 * One row of a chunk's aggregations: each valid-looking edit and each reference of a target, and
 * one summary per thread root (its newest reply's row, the reply count, whether `me` took part).
 */
export type AggregationRow = EventRow & {
  rel_type: string;
  relates_to: string;
  origin_server_ts: number | string;
  n: number | string;
  mine: boolean;
};

export type ThreadRootRow = EventRow & { latest: number | string };

/** Reads of message_relations (written with their events by EventWritesRepository). */
export class RelationsRepository {
  constructor(private readonly db: RoomsDb) {}

  /** Stream position of the room's newest relation event (0: none), for the room snapshot. */
  async lastRelationPosition(roomId: string, db: RoomsExecutor = this.db): Promise<number> {
    const r = await sql<{ p: string | number | null }>`SELECT max(stream_position) AS p
      FROM message_relations WHERE room_id = ${roomId}`.execute(db);
    return Number(r.rows[0]?.p ?? 0);
  }

  /** lastRelationPosition of many rooms at once (rooms without relations are absent: 0). */
  async lastRelationPositions(roomIds: readonly string[]): Promise<Map<string, number>> {
    const out = new Map<string, number>();
    if (roomIds.length === 0) return out;
    const rows = await this.db
      .selectFrom("message_relations")
      .select((eb) => ["room_id", eb.fn.max("stream_position").as("p")])
      .where("room_id", "in", roomIds)
      .groupBy("room_id")
      .execute();
    for (const r of rows) out.set(r.room_id, Number(r.p ?? 0));
    return out;
  }

  /** Whether `sender` already annotated `parentId` with `key` in an event of `type`. */
  async hasAnnotated(parentId: string, type: string, sender: string, key: string): Promise<boolean> {
    const row = await this.db
      .selectFrom("message_relations")
      .select("event_id")
      .where("relates_to", "=", parentId)
      .where("rel_type", "=", "m.annotation")
      .where("type", "=", type)
      .where("sender", "=", sender)
      .where("aggregation_key", "=", key)
      .executeTakeFirst();
    return row !== undefined;
  }

  /** Whether any relation points at `eventId`. */
  async isTarget(eventId: string): Promise<boolean> {
    const row = await this.db
      .selectFrom("message_relations")
      .select("event_id")
      .where("relates_to", "=", eventId)
      .executeTakeFirst();
    return row !== undefined;
  }

  /**
   * A page of the events relating to `parentId` in `roomId` (with `recurse`, relations of those
   * too, down to RELATIONS_RECURSION_DEPTH), filtered by rel_type and event type, in stream order:
   * `dir` b from `from` down (newest first), f from above `from` up; `to` bounds the other end.
   */
  async page(roomId: string, parentId: string, q: RelationsPageQuery): Promise<EventRow[]> {
    // Without recursion the (relates_to, stream_position) index serves the order and the bounds.
    const conds = [sql`m.room_id = ${roomId}`];
    if (q.relType !== undefined) conds.push(sql`r.rel_type = ${q.relType}`);
    if (q.eventType !== undefined) conds.push(sql`r.type = ${q.eventType}`);
    if (q.dir === "b") {
      conds.push(sql`r.stream_position <= ${q.from}`);
      if (q.to !== undefined) conds.push(sql`r.stream_position > ${q.to}`);
    } else {
      conds.push(sql`r.stream_position > ${q.from}`);
      if (q.to !== undefined) conds.push(sql`r.stream_position <= ${q.to}`);
    }
    const order = q.dir === "b" ? sql`DESC` : sql`ASC`;
    const related = q.recurse
      ? sql`(WITH RECURSIVE tree (event_id, depth) AS (
            SELECT event_id, 1 FROM message_relations WHERE relates_to = ${parentId}
            UNION
            SELECT c.event_id, t.depth + 1 FROM message_relations c
              JOIN tree t ON c.relates_to = t.event_id WHERE t.depth < ${RELATIONS_RECURSION_DEPTH})
          SELECT x.* FROM message_relations x WHERE x.event_id IN (SELECT event_id FROM tree))`
      : sql`(SELECT * FROM message_relations WHERE relates_to = ${parentId})`;
    const r = await sql<EventRow>`SELECT ${EVENT_COLUMNS_M} FROM ${related} r
      JOIN messages m ON m.event_id = r.event_id
      WHERE ${sql.join(conds, sql` AND `)}
      ORDER BY r.stream_position ${order} LIMIT ${q.limit}`.execute(this.db);
    return r.rows;
  }

  /**
   * Everything the server-side aggregations of `targets` need, in one statement: edits by the
   * target's sender with the target's type (the rest of an edit's validity is judged on its
   * content), references, and thread summaries. Annotations are not aggregated (spec v1.7+).
   * References and thread replies from `ignored` users are left out, as Synapse does.
   */
  async aggregations(
    me: string,
    targets: AggregationTarget[],
    ignored: readonly string[],
  ): Promise<AggregationRow[]> {
    if (targets.length === 0) return [];
    const ids = targets.map((t) => t.eventId);
    const ign = sql`${[...ignored]}::text[]`;
    const r = await sql<AggregationRow>`WITH t (event_id, sender, type) AS (
        SELECT * FROM unnest(${ids}::text[], ${targets.map((t) => t.sender)}::text[],
          ${targets.map((t) => t.type)}::text[]))
      SELECT ${EVENT_COLUMNS_M}, r.rel_type, r.relates_to, m.origin_server_ts, 1 AS n, false AS mine
      FROM t JOIN message_relations r ON r.relates_to = t.event_id
        AND ((r.rel_type = 'm.replace' AND r.sender = t.sender AND r.type = t.type)
          OR (r.rel_type = 'm.reference' AND NOT r.sender = ANY(${ign})))
      JOIN messages m ON m.event_id = r.event_id
      UNION ALL
      SELECT ${EVENT_COLUMNS_M}, 'm.thread', s.relates_to, m.origin_server_ts, s.n, s.mine
      FROM (SELECT relates_to, count(*) AS n, max(stream_position) AS latest, bool_or(sender = ${me}) AS mine
          FROM message_relations WHERE relates_to = ANY(${ids}::text[]) AND rel_type = 'm.thread'
            AND NOT sender = ANY(${ign})
          GROUP BY relates_to) s
      JOIN messages m ON m.stream_position = s.latest`.execute(this.db);
    return r.rows;
  }

  /**
   * Thread roots of a room, the most recently active first: those whose newest reply is at or
   * below `from`, at most `limit`; with `participant`, only threads they started or replied to.
   */
  async threadRoots(
    roomId: string,
    q: { from: number; limit: number; participant?: string },
  ): Promise<ThreadRootRow[]> {
    const mine = q.participant === undefined ? sql`` : sql` AND (s.mine OR m.sender = ${q.participant})`;
    const r = await sql<ThreadRootRow>`SELECT ${EVENT_COLUMNS_M}, s.latest
      FROM (SELECT relates_to, max(stream_position) AS latest, bool_or(sender = ${q.participant ?? ""}) AS mine
          FROM message_relations WHERE room_id = ${roomId} AND rel_type = 'm.thread'
          GROUP BY relates_to) s
      JOIN messages m ON m.event_id = s.relates_to AND m.room_id = ${roomId}
      WHERE s.latest <= ${q.from}${mine}
      ORDER BY s.latest DESC LIMIT ${q.limit}`.execute(this.db);
    return r.rows;
  }
}
