import { type RawBuilder, sql } from "kysely";
import type { RoomsDb, RoomsExecutor } from "../tables.ts";
import type { EventWrite, HeadSwap, OutboxRow, RedactionWrite, TxnGuard } from "./rows.ts";

/**
 * The write side of messages: an event and everything derived from it go in as one statement, so
 * the group commit can carry many rooms' events in one round trip.
 */
export class EventWritesRepository {
  constructor(private readonly db: RoomsDb) {}

  /**
   * Inserts events and everything derived from them (current state, membership, relation indexes,
   * redaction) in ONE statement of data-modifying CTEs: one round trip inside the caller's
   * transaction, whether it carries one event or a batch across rooms. An event with a txn guard is
   * written only if its (user, device, scope, txnId) is new, and a room's events only if all of theirs
   * are. Returns the ids of the events written.
   */
  async writeEvents(
    db: RoomsExecutor,
    events: EventWrite[],
    opts: { heads: HeadSwap[]; txns?: TxnGuard[]; redaction?: RedactionWrite; outbox?: OutboxRow[] },
  ): Promise<{ written: Set<string>; stale: Set<string> }> {
    const ctes: RawBuilder<unknown>[] = [];
    const txns = opts.txns ?? [];
    // Compare-and-swap of each room's head. `chk` locks each room's row and keeps the rooms whose
    // head is still what the events were built on (a concurrent writer is waited for, then
    // re-checked); a room that moved writes nothing. The head moves only if the event is written.
    const hv = opts.heads.map((h) => sql`(${h.roomId}::text, ${h.expected}::bigint, ${h.next}::bigint)`);
    ctes.push(sql`hv (room_id, expected, next) AS (VALUES ${sql.join(hv)})`);
    // Rows are locked in room id order, so two processes batching the same rooms cannot deadlock.
    ctes.push(sql`chk AS (SELECT c.room_id FROM conversations c JOIN hv ON hv.room_id = c.room_id
      AND c.head_position = hv.expected ORDER BY c.room_id FOR UPDATE OF c)`);
    if (txns.length > 0) {
      const now = Date.now();
      const tv = txns.map(
        (t) =>
          sql`(${t.userId}::text, ${t.deviceId}::text, ${t.scope}::text, ${t.txnId}::text, ${t.eventId}::text, ${now}::bigint, ${t.roomId}::text)`,
      );
      ctes.push(
        sql`tv (user_id, device_id, scope, txn_id, event_id, created_at, room_id) AS (VALUES ${sql.join(tv)})`,
      );
      // A room whose events include a txnId already stored writes none of them: its events chain
      // one on another (prev_events), so storing the others would leave a hole in the chain. A
      // txn row committed meanwhile by another writer of the room moved its head, so `chk` drops it.
      ctes.push(sql`dup AS (SELECT DISTINCT tv.room_id FROM tv JOIN room_txns r ON r.user_id = tv.user_id
        AND r.device_id = tv.device_id AND r.scope = tv.scope AND r.txn_id = tv.txn_id)`);
      ctes.push(sql`t AS (INSERT INTO room_txns (user_id, device_id, scope, txn_id, event_id, created_at)
        SELECT tv.user_id, tv.device_id, tv.scope, tv.txn_id, tv.event_id, tv.created_at FROM tv
        WHERE tv.room_id IN (SELECT room_id FROM chk) AND tv.room_id NOT IN (SELECT room_id FROM dup)
        ON CONFLICT DO NOTHING RETURNING event_id)`);
    }
    // `ok`: the events to write — their room's head held and, if guarded, their txnId was new.
    const guarded = new Set(txns.map((t) => t.eventId));
    ctes.push(sql`ok AS (
      SELECT v.event_id, v.room_id FROM unnest(${events.map((e) => e.eventId)}::text[], ${events.map((e) => e.roomId)}::text[],
        ${events.map((e) => guarded.has(e.eventId))}::boolean[]) AS v (event_id, room_id, guarded)
      WHERE v.room_id IN (SELECT room_id FROM chk)
        ${txns.length > 0 ? sql`AND v.room_id NOT IN (SELECT room_id FROM dup) AND (NOT v.guarded OR v.event_id IN (SELECT event_id FROM t))` : sql``})`);
    ctes.push(sql`h AS (UPDATE conversations c SET head_position = hv.next FROM hv
      WHERE c.room_id = hv.room_id AND hv.room_id IN (SELECT room_id FROM ok))`);
    const guard = sql` WHERE v.event_id IN (SELECT event_id FROM ok)`;
    const values = events.map(
      (
        e,
      ) => sql`(${e.eventId}::text, ${e.roomId}::text, ${e.position}::bigint, ${e.depth}::bigint, ${e.type}::text,
        ${e.stateKey}::text, ${e.sender}::text, ${e.ts}::bigint, ${e.membership}::text, ${e.pdu}::text,
        ${e.prevState}::text, ${e.txnDeviceId}::text, ${e.txnId}::text)`,
    );
    ctes.push(sql`m AS (INSERT INTO messages (event_id, room_id, stream_position, depth, type, state_key, sender,
        origin_server_ts, membership, pdu, prev_state, txn_device_id, txn_id)
      SELECT * FROM (VALUES ${sql.join(values)}) v (event_id, room_id, stream_position, depth, type, state_key,
        sender, origin_server_ts, membership, pdu, prev_state, txn_device_id, txn_id)${guard} RETURNING event_id)`);

    // Current state: the last event per (room, type, state_key) of this batch.
    const lastState = new Map<string, EventWrite>();
    for (const e of events)
      if (e.stateKey !== null) lastState.set(`${e.roomId}\u0000${e.type}\u0000${e.stateKey}`, e);
    if (lastState.size > 0) {
      const sv = [...lastState.values()].map(
        (e) =>
          sql`(${e.eventId}::text, ${e.roomId}::text, ${e.type}::text, ${e.stateKey}::text, ${e.position}::bigint)`,
      );
      ctes.push(sql`s AS (INSERT INTO room_state (room_id, type, state_key, event_id, stream_position)
        SELECT v.room_id, v.type, v.state_key, v.event_id, v.stream_position
        FROM (VALUES ${sql.join(sv)}) v (event_id, room_id, type, state_key, stream_position)${guard}
        ON CONFLICT (room_id, type, state_key) DO UPDATE
          SET event_id = excluded.event_id, stream_position = excluded.stream_position)`);
      const members = [...lastState.values()].filter(
        (e) => e.type === "m.room.member" && e.membership !== null,
      );
      if (members.length > 0) {
        const mv = members.map(
          (e) =>
            sql`(${e.eventId}::text, ${e.roomId}::text, ${e.stateKey}::text, ${e.membership}::text, ${e.position}::bigint)`,
        );
        ctes.push(sql`cm AS (INSERT INTO conversation_members (room_id, user_id, membership, event_id, stream_position, forgotten)
          SELECT v.room_id, v.user_id, v.membership, v.event_id, v.stream_position, false
          FROM (VALUES ${sql.join(mv)}) v (event_id, room_id, user_id, membership, stream_position)${guard}
          ON CONFLICT (room_id, user_id) DO UPDATE SET membership = excluded.membership,
            event_id = excluded.event_id, stream_position = excluded.stream_position, forgotten = false)`);
      }
    }
    const reactions = events.filter((e) => e.reaction);
    if (reactions.length > 0) {
      const rv = reactions.map(
        (e) =>
          sql`(${e.eventId}::text, ${e.roomId}::text, ${e.reaction!.relatesTo}::text, ${e.sender}::text, ${e.reaction!.key}::text, ${e.position}::bigint)`,
      );
      ctes.push(sql`r AS (INSERT INTO message_reactions (event_id, room_id, relates_to, sender, key, stream_position)
        SELECT * FROM (VALUES ${sql.join(rv)}) v (event_id, room_id, relates_to, sender, key, stream_position)${guard})`);
    }
    const edits = events.filter((e) => e.edit);
    if (edits.length > 0) {
      const ev = edits.map(
        (e) =>
          sql`(${e.eventId}::text, ${e.roomId}::text, ${e.edit!.relatesTo}::text, ${e.sender}::text, ${e.position}::bigint)`,
      );
      ctes.push(sql`e AS (INSERT INTO message_edit_history (event_id, room_id, relates_to, sender, stream_position)
        SELECT * FROM (VALUES ${sql.join(ev)}) v (event_id, room_id, relates_to, sender, stream_position)${guard})`);
    }
    const relations = events.filter((e) => e.relation);
    if (relations.length > 0) {
      const lv = relations.map(
        (e) =>
          sql`(${e.eventId}::text, ${e.roomId}::text, ${e.relation!.relatesTo}::text, ${e.relation!.relType}::text,
            ${e.type}::text, ${e.sender}::text, ${e.relation!.key}::text, ${e.position}::bigint)`,
      );
      ctes.push(sql`rl AS (INSERT INTO message_relations (event_id, room_id, relates_to, rel_type, type, sender,
          aggregation_key, stream_position)
        SELECT * FROM (VALUES ${sql.join(lv)}) v (event_id, room_id, relates_to, rel_type, type, sender,
          aggregation_key, stream_position)${guard})`);
    }
    const attachments = events.flatMap((e) =>
      [...new Set(e.attachments)].map(
        (url) => sql`(${e.eventId}::text, ${url}::text, ${e.roomId}::text, ${e.position}::bigint)`,
      ),
    );
    if (attachments.length > 0) {
      ctes.push(sql`a AS (INSERT INTO message_attachments (event_id, mxc_url, room_id, stream_position)
        SELECT * FROM (VALUES ${sql.join(attachments)}) v (event_id, mxc_url, room_id, stream_position)${guard})`);
    }
    const red = opts.redaction;
    if (red) {
      // The redaction applies only if its redaction event is written.
      const applies = sql` AND ${red.redactionEventId}::text IN (SELECT event_id FROM ok)`;
      ctes.push(sql`ru AS (UPDATE messages SET pdu = ${red.redactedPdu}, redacted_because = ${red.redactedBecause}
        WHERE event_id = ${red.targetId}${applies})`);
      ctes.push(sql`rr AS (DELETE FROM message_reactions WHERE event_id = ${red.targetId}${applies})`);
      ctes.push(sql`re AS (DELETE FROM message_edit_history WHERE event_id = ${red.targetId}${applies})`);
      // A redacted relation leaves every aggregation and /relations (its m.relates_to is gone).
      ctes.push(sql`rd AS (DELETE FROM message_relations WHERE event_id = ${red.targetId}${applies})`);
      ctes.push(sql`rc AS (INSERT INTO message_recalls (event_id, room_id, redaction_event_id, redacted_by, stream_position)
        SELECT ${red.targetId}::text, ${red.roomId}::text, ${red.redactionEventId}::text, ${red.sender}::text,
          ${red.position}::bigint WHERE true${applies}
        ON CONFLICT (event_id) DO NOTHING)`);
    }
    const outbox = opts.outbox ?? [];
    if (outbox.length > 0) {
      // The published events (server/events.ts) commit with their room event or not at all. No
      // NOTIFY here: the writer wakes its process's outbox processor after the commit (see
      // NovaContext.outboxWritten), since notifying transactions commit one at a time.
      ctes.push(sql`ob AS (INSERT INTO outbox_events (id, aggregate_type, aggregate_id, event_type, payload)
        SELECT v.id, v.aggregate_type, v.aggregate_id, v.event_type, v.payload FROM unnest(
          ${outbox.map((o) => o.id)}::uuid[], ${outbox.map((o) => o.aggregateType)}::text[],
          ${outbox.map((o) => o.aggregateId)}::text[], ${outbox.map((o) => o.eventType)}::text[],
          ${outbox.map((o) => JSON.stringify(o.payload))}::jsonb[], ${outbox.map((o) => o.eventId)}::text[])
          AS v (id, aggregate_type, aggregate_id, event_type, payload, event_id)
        WHERE v.event_id IN (SELECT event_id FROM ok) RETURNING 1)`);
    }
    const r = await sql<{ k: string; v: string }>`WITH ${sql.join(ctes)}
      SELECT 'e' AS k, event_id AS v FROM m UNION ALL SELECT 'r' AS k, room_id AS v FROM chk`.execute(db);
    const written = new Set<string>();
    const swapped = new Set<string>();
    for (const row of r.rows) {
      if (row.k === "e") written.add(row.v);
      else if (row.k === "r") swapped.add(row.v);
    }
    const stale = new Set(opts.heads.map((h) => h.roomId).filter((id) => !swapped.has(id)));
    return { written, stale };
  }

  async txnEventId(userId: string, deviceId: string, scope: string, txnId: string): Promise<string | null> {
    const row = await this.db
      .selectFrom("room_txns")
      .select("event_id")
      .where("user_id", "=", userId)
      .where("device_id", "=", deviceId)
      .where("scope", "=", scope)
      .where("txn_id", "=", txnId)
      .executeTakeFirst();
    return row?.event_id ?? null;
  }

  /** `n` fresh stream positions in one round trip, ascending (extra positions of a multi-event write). */
  async nextPositions(trx: RoomsExecutor, n: number): Promise<number[]> {
    const r = await sql<{
      p: number;
    }>`SELECT nextval('stream_position_seq') AS p FROM generate_series(1, ${n})`.execute(trx);
    return r.rows.map((x) => Number(x.p)).sort((a, b) => a - b);
  }
}
