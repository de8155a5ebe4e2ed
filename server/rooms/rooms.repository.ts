import { type Kysely, type RawBuilder, sql, type Transaction } from "kysely";

/** One event to insert, with the index rows it feeds. */
export type EventWrite = {
  eventId: string;
  roomId: string;
  position: number;
  depth: number;
  type: string;
  stateKey: string | null;
  sender: string;
  ts: number;
  membership: string | null;
  pdu: string;
  prevState: string | null;
  txnDeviceId: string | null;
  txnId: string | null;
  reaction: { relatesTo: string; key: string } | null;
  edit: { relatesTo: string } | null;
  attachments: string[];
};

export type TxnGuard = {
  userId: string;
  deviceId: string;
  scope: string;
  txnId: string;
  eventId: string;
  roomId: string;
};

export type RedactionWrite = {
  targetId: string;
  roomId: string;
  redactedPdu: string;
  redactedBecause: string;
  redactionEventId: string;
  sender: string;
  position: number;
};

/** A messages row as served to clients. */
export type EventRow = {
  event_id: string;
  room_id: string;
  stream_position: number;
  type: string;
  state_key: string | null;
  sender: string;
  membership: string | null;
  pdu: string;
  prev_state: string | null;
  txn_device_id: string | null;
  txn_id: string | null;
  redacted_because: string | null;
};

const EVENT_COLS = sql.raw(
  "event_id, room_id, stream_position, type, state_key, sender, membership, pdu, prev_state, txn_device_id, txn_id, redacted_because",
);
const EVENT_COLS_M = sql.raw(
  "m.event_id, m.room_id, m.stream_position, m.type, m.state_key, m.sender, m.membership, m.pdu, m.prev_state, m.txn_device_id, m.txn_id, m.redacted_because",
);

export type ConversationRow = {
  room_id: string;
  room_version: string;
  creator: string;
  created_at: number;
  is_public: boolean;
  /** Stream position of the room's latest event (see migration 0101). */
  head_position: number;
};

/** A room's head moves from `expected` to `next` with the write, or the write does not happen. */
export type HeadSwap = { roomId: string; expected: number; next: number };

type Db = Kysely<unknown> | Transaction<unknown>;

function rows<T>(r: { rows: unknown[] }): T[] {
  return r.rows as T[];
}

/** Kysely queries of the rooms area (messaging schema). */
export class RoomsRepository {
  constructor(private readonly db: Kysely<unknown>) {}

  get kysely(): Kysely<unknown> {
    return this.db;
  }

  async loadSigningKey(): Promise<{ key_id: string; seed: string } | null> {
    const r = await sql<{ key_id: string; seed: string }>`
      SELECT key_id, seed FROM server_signing_keys ORDER BY created_at LIMIT 1`.execute(this.db);
    return r.rows[0] ?? null;
  }

  /** Stores a new key unless another process stored one first; returns the key to use. */
  async storeSigningKey(keyId: string, seed: string): Promise<{ key_id: string; seed: string }> {
    await sql`INSERT INTO server_signing_keys (key_id, seed, created_at)
      VALUES (${keyId}, ${seed}, ${Date.now()}) ON CONFLICT DO NOTHING`.execute(this.db);
    return (await this.loadSigningKey())!;
  }

  async insertConversation(trx: Db, row: ConversationRow): Promise<void> {
    await sql`INSERT INTO conversations (room_id, room_version, creator, created_at, is_public, head_position)
      VALUES (${row.room_id}, ${row.room_version}, ${row.creator}, ${row.created_at}, ${row.is_public},
        ${row.head_position})`.execute(trx);
  }

  /** Locks the room's row until the transaction ends: the pessimistic path of a contended write. */
  async lockRoom(trx: Db, roomId: string): Promise<void> {
    await sql`SELECT 1 FROM conversations WHERE room_id = ${roomId} FOR UPDATE`.execute(trx);
  }

  async getConversation(roomId: string, db: Db = this.db): Promise<ConversationRow | null> {
    const r = await sql<ConversationRow>`
      SELECT room_id, room_version, creator, created_at, is_public, head_position
      FROM conversations WHERE room_id = ${roomId}`.execute(db);
    return r.rows[0] ?? null;
  }

  /**
   * Inserts events and everything derived from them (current state, membership, relation indexes,
   * redaction) in ONE statement of data-modifying CTEs: one round trip inside the caller's
   * transaction, whether it carries one event or a batch across rooms. An event with a txn guard is
   * written only if its (user, device, scope, txnId) is new. Returns the ids of the events written.
   */
  async writeEvents(
    trx: Db,
    events: EventWrite[],
    opts: { heads: HeadSwap[]; txns?: TxnGuard[]; redaction?: RedactionWrite },
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
      ctes.push(sql`t AS (INSERT INTO room_txns (user_id, device_id, scope, txn_id, event_id, created_at)
        SELECT v.user_id, v.device_id, v.scope, v.txn_id, v.event_id, v.created_at
        FROM (VALUES ${sql.join(tv)}) v (user_id, device_id, scope, txn_id, event_id, created_at, room_id)
        WHERE v.room_id IN (SELECT room_id FROM chk)
        ON CONFLICT DO NOTHING RETURNING event_id)`);
    }
    // `ok`: the events to write — their room's head held and, if guarded, their txnId was new.
    const guarded = new Set(txns.map((t) => t.eventId));
    ctes.push(sql`ok AS (
      SELECT v.event_id, v.room_id FROM unnest(${events.map((e) => e.eventId)}::text[], ${events.map((e) => e.roomId)}::text[],
        ${events.map((e) => guarded.has(e.eventId))}::boolean[]) AS v (event_id, room_id, guarded)
      WHERE v.room_id IN (SELECT room_id FROM chk)
        ${txns.length > 0 ? sql`AND (NOT v.guarded OR v.event_id IN (SELECT event_id FROM t))` : sql``})`);
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
      ctes.push(sql`rc AS (INSERT INTO message_recalls (event_id, room_id, redaction_event_id, redacted_by, stream_position)
        SELECT ${red.targetId}::text, ${red.roomId}::text, ${red.redactionEventId}::text, ${red.sender}::text,
          ${red.position}::bigint WHERE true${applies}
        ON CONFLICT (event_id) DO NOTHING)`);
    }
    const r = await sql<{ k: string; v: string }>`WITH ${sql.join(ctes)}
      SELECT 'e' AS k, event_id AS v FROM m UNION ALL SELECT 'r' AS k, room_id AS v FROM chk`.execute(trx);
    const written = new Set<string>();
    const swapped = new Set<string>();
    for (const row of r.rows) (row.k === "e" ? written : swapped).add(row.v);
    const stale = new Set(opts.heads.map((h) => h.roomId).filter((id) => !swapped.has(id)));
    return { written, stale };
  }

  async txnEventId(userId: string, deviceId: string, scope: string, txnId: string): Promise<string | null> {
    const r = await sql<{ event_id: string }>`SELECT event_id FROM room_txns
      WHERE user_id = ${userId} AND device_id = ${deviceId} AND scope = ${scope} AND txn_id = ${txnId}`.execute(
      this.db,
    );
    return r.rows[0]?.event_id ?? null;
  }

  /** Current state events of a room, with their rows. */
  async currentState(roomId: string, db: Db = this.db): Promise<EventRow[]> {
    const r = await sql`SELECT ${EVENT_COLS_M} FROM room_state s JOIN messages m ON m.event_id = s.event_id
      WHERE s.room_id = ${roomId}`.execute(db);
    return rows<EventRow>(r);
  }

  /** The event at a room's head: the head's position names it whatever committed since. */
  async eventAt(
    roomId: string,
    position: number,
    db: Db = this.db,
  ): Promise<{ event_id: string; depth: number; stream_position: number } | null> {
    const r = await sql<{ event_id: string; depth: number; stream_position: number }>`
      SELECT event_id, depth, stream_position FROM messages
      WHERE room_id = ${roomId} AND stream_position = ${position}`.execute(db);
    const row = r.rows[0];
    return row ? { ...row, depth: Number(row.depth), stream_position: Number(row.stream_position) } : null;
  }

  /** The state of several rooms, each at its own position, in one query (initial syncs). */
  async stateAtMany(targets: { roomId: string; position: number }[]): Promise<Map<string, EventRow[]>> {
    const out = new Map<string, EventRow[]>();
    if (targets.length === 0) return out;
    const r = await sql`SELECT ${EVENT_COLS_M} FROM unnest(${targets.map((t) => t.roomId)}::text[],
        ${targets.map((t) => t.position)}::bigint[]) AS r(room_id, upto)
      CROSS JOIN LATERAL (SELECT DISTINCT ON (type, state_key) * FROM messages x
        WHERE x.room_id = r.room_id AND x.state_key IS NOT NULL AND x.stream_position <= r.upto
        ORDER BY type, state_key, stream_position DESC) m`.execute(this.db);
    for (const row of rows<EventRow>(r)) {
      const list = out.get(row.room_id) ?? [];
      list.push(row);
      out.set(row.room_id, list);
    }
    return out;
  }

  /** The user's member events and the rooms' history-visibility events, for several rooms at once. */
  async visibilityInputsMany(
    userId: string,
    roomIds: string[],
  ): Promise<{
    memberships: Map<string, { membership: string; stream_position: number }[]>;
    visibilities: Map<string, { visibility: string; stream_position: number }[]>;
  }> {
    const memberships = new Map<string, { membership: string; stream_position: number }[]>();
    const visibilities = new Map<string, { visibility: string; stream_position: number }[]>();
    if (roomIds.length === 0) return { memberships, visibilities };
    const r = await sql<{
      room_id: string;
      type: string;
      membership: string | null;
      pdu: string;
      stream_position: number;
    }>`
      SELECT room_id, type, membership, pdu, stream_position FROM messages
      WHERE room_id = ANY(${roomIds}::text[]) AND (
        (type = 'm.room.member' AND state_key = ${userId}) OR (type = 'm.room.history_visibility' AND state_key = ''))
      ORDER BY stream_position`.execute(this.db);
    for (const x of r.rows) {
      const position = Number(x.stream_position);
      if (x.type === "m.room.member") {
        const list = memberships.get(x.room_id) ?? [];
        list.push({ membership: x.membership ?? "leave", stream_position: position });
        memberships.set(x.room_id, list);
      } else {
        const c = (JSON.parse(x.pdu) as { content?: { history_visibility?: unknown } }).content;
        const list = visibilities.get(x.room_id) ?? [];
        list.push({
          visibility: typeof c?.history_visibility === "string" ? c.history_visibility : "shared",
          stream_position: position,
        });
        visibilities.set(x.room_id, list);
      }
    }
    return { memberships, visibilities };
  }

  /** The room's state after every event at or below `position`. */
  async stateAt(roomId: string, position: number, types?: string[]): Promise<EventRow[]> {
    const typeFilter = types && types.length > 0 ? sql` AND type IN (${sql.join(types)})` : sql``;
    const r = await sql`SELECT DISTINCT ON (type, state_key) ${EVENT_COLS} FROM messages
      WHERE room_id = ${roomId} AND state_key IS NOT NULL AND stream_position <= ${position}${typeFilter}
      ORDER BY type, state_key, stream_position DESC`.execute(this.db);
    return rows<EventRow>(r);
  }

  async getEvent(eventId: string): Promise<EventRow | null> {
    const r = await sql`SELECT ${EVENT_COLS} FROM messages WHERE event_id = ${eventId}`.execute(this.db);
    return (r.rows[0] as EventRow | undefined) ?? null;
  }

  /** The user's member events in a room, oldest first (history visibility needs all of them). */
  async membershipHistory(
    roomId: string,
    userId: string,
  ): Promise<{ membership: string; stream_position: number }[]> {
    const r = await sql<{ membership: string; stream_position: number }>`
      SELECT membership, stream_position FROM messages
      WHERE type = 'm.room.member' AND state_key = ${userId} AND room_id = ${roomId}
      ORDER BY stream_position`.execute(this.db);
    return r.rows.map((x) => ({ membership: x.membership, stream_position: Number(x.stream_position) }));
  }

  /** History-visibility changes of a room, oldest first. */
  async visibilityHistory(roomId: string): Promise<{ visibility: string; stream_position: number }[]> {
    const r = await sql<{ pdu: string; stream_position: number }>`
      SELECT pdu, stream_position FROM messages
      WHERE room_id = ${roomId} AND type = 'm.room.history_visibility' AND state_key = ''
      ORDER BY stream_position`.execute(this.db);
    return r.rows.map((x) => {
      const c = (JSON.parse(x.pdu) as { content?: { history_visibility?: unknown } }).content;
      const v = typeof c?.history_visibility === "string" ? c.history_visibility : "shared";
      return { visibility: v, stream_position: Number(x.stream_position) };
    });
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
    if (opts.dir === "b") {
      const lower = opts.to !== undefined ? sql` AND stream_position > ${opts.to}` : sql``;
      const r = await sql`SELECT ${EVENT_COLS} FROM messages WHERE room_id = ${roomId}
        AND stream_position <= ${opts.from}${lower}${f}
        ORDER BY stream_position DESC LIMIT ${opts.limit}`.execute(this.db);
      return rows<EventRow>(r);
    }
    const upper = opts.to !== undefined ? sql` AND stream_position <= ${opts.to}` : sql``;
    const r = await sql`SELECT ${EVENT_COLS} FROM messages WHERE room_id = ${roomId}
      AND stream_position > ${opts.from}${upper}${f}
      ORDER BY stream_position ASC LIMIT ${opts.limit}`.execute(this.db);
    return rows<EventRow>(r);
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
      await sql`SELECT ${EVENT_COLS_M} FROM unnest(${roomIds}::text[], ${tos}::bigint[]) AS r(room_id, upto)
      CROSS JOIN LATERAL (SELECT * FROM messages m WHERE m.room_id = r.room_id
        AND m.stream_position > ${since} AND m.stream_position <= r.upto${f}
        ORDER BY m.stream_position DESC LIMIT ${limit}) m`.execute(this.db);
    return rows<EventRow>(r);
  }

  /** Rooms among `roomIds` with any event in (since, to]. */
  async roomsWithEvents(roomIds: string[], since: number, to: number): Promise<Set<string>> {
    if (roomIds.length === 0) return new Set();
    const r = await sql<{ room_id: string }>`SELECT r.room_id FROM unnest(${roomIds}::text[]) AS r(room_id)
      WHERE EXISTS (SELECT 1 FROM messages m WHERE m.room_id = r.room_id
        AND m.stream_position > ${since} AND m.stream_position <= ${to})`.execute(this.db);
    return new Set(r.rows.map((x) => x.room_id));
  }

  /** The user's current memberships (not forgotten). */
  async membershipsOf(
    userId: string,
  ): Promise<
    { room_id: string; membership: string; event_id: string; stream_position: number; forgotten: boolean }[]
  > {
    const r = await sql<{
      room_id: string;
      membership: string;
      event_id: string;
      stream_position: number;
      forgotten: boolean;
    }>`SELECT room_id, membership, event_id, stream_position, forgotten FROM conversation_members
      WHERE user_id = ${userId}`.execute(this.db);
    return r.rows.map((x) => ({ ...x, stream_position: Number(x.stream_position) }));
  }

  /** The user's membership event in each of `roomIds` as of `position`. */
  async membershipsAt(
    userId: string,
    roomIds: string[],
    position: number,
  ): Promise<{ room_id: string; membership: string; event_id: string; stream_position: number }[]> {
    if (roomIds.length === 0) return [];
    const r = await sql<{ room_id: string; membership: string; event_id: string; stream_position: number }>`
      SELECT DISTINCT ON (room_id) room_id, membership, event_id, stream_position FROM messages
      WHERE type = 'm.room.member' AND state_key = ${userId} AND room_id IN (${sql.join(roomIds)})
        AND stream_position <= ${position}
      ORDER BY room_id, stream_position DESC`.execute(this.db);
    return r.rows.map((x) => ({ ...x, stream_position: Number(x.stream_position) }));
  }

  async setForgotten(trx: Db, roomId: string, userId: string): Promise<void> {
    await sql`UPDATE conversation_members SET forgotten = true
      WHERE room_id = ${roomId} AND user_id = ${userId}`.execute(trx);
  }

  async getAlias(alias: string): Promise<{ room_id: string; creator: string } | null> {
    const r = await sql<{ room_id: string; creator: string }>`
      SELECT room_id, creator FROM room_aliases WHERE alias = ${alias}`.execute(this.db);
    return r.rows[0] ?? null;
  }

  /** Inserts an alias; false when it is taken. */
  async insertAlias(trx: Db, alias: string, roomId: string, creator: string): Promise<boolean> {
    const r = await sql`INSERT INTO room_aliases (alias, room_id, creator, created_at)
      VALUES (${alias}, ${roomId}, ${creator}, ${Date.now()}) ON CONFLICT DO NOTHING RETURNING alias`.execute(
      trx,
    );
    return r.rows.length > 0;
  }

  async deleteAlias(trx: Db, alias: string): Promise<void> {
    await sql`DELETE FROM room_aliases WHERE alias = ${alias}`.execute(trx);
  }

  async aliasesOf(roomId: string): Promise<string[]> {
    const r = await sql<{ alias: string }>`SELECT alias FROM room_aliases WHERE room_id = ${roomId}
      ORDER BY alias`.execute(this.db);
    return r.rows.map((x) => x.alias);
  }

  async setPublic(trx: Db, roomId: string, isPublic: boolean): Promise<void> {
    await sql`UPDATE conversations SET is_public = ${isPublic} WHERE room_id = ${roomId}`.execute(trx);
  }

  async publicRoomIds(): Promise<string[]> {
    const r = await sql<{ room_id: string }>`SELECT room_id FROM conversations WHERE is_public
      ORDER BY created_at, room_id`.execute(this.db);
    return r.rows.map((x) => x.room_id);
  }

  async eventInRoom(roomId: string, eventId: string): Promise<boolean> {
    const r = await sql`SELECT 1 FROM messages WHERE event_id = ${eventId} AND room_id = ${roomId}`.execute(
      this.db,
    );
    return r.rows.length > 0;
  }
}

/** Event filter of /messages and sync timelines (spec RoomEventFilter, the parts done in SQL). */
export type EventFilter = {
  types?: string[];
  notTypes?: string[];
  senders?: string[];
  notSenders?: string[];
};

function likeOrEq(col: RawBuilder<unknown>, pattern: string): RawBuilder<unknown> {
  // Filter types may end in `*` as a wildcard (spec: "A '*' can be used as a wildcard").
  if (pattern.includes("*")) {
    const like = pattern.replace(/[\\%_]/g, (c) => `\\${c}`).replace(/\*/g, "%");
    return sql`${col} LIKE ${like}`;
  }
  return sql`${col} = ${pattern}`;
}

function filterSql(f: EventFilter | undefined, prefix = ""): RawBuilder<unknown> {
  if (!f) return sql``;
  const parts: RawBuilder<unknown>[] = [];
  const typeCol = sql.raw(`${prefix}type`);
  const senderCol = sql.raw(`${prefix}sender`);
  if (f.types) {
    if (f.types.length === 0) parts.push(sql`false`);
    else
      parts.push(
        sql`(${sql.join(
          f.types.map((t) => likeOrEq(typeCol, t)),
          sql` OR `,
        )})`,
      );
  }
  if (f.notTypes && f.notTypes.length > 0) {
    parts.push(
      sql`NOT (${sql.join(
        f.notTypes.map((t) => likeOrEq(typeCol, t)),
        sql` OR `,
      )})`,
    );
  }
  if (f.senders) {
    if (f.senders.length === 0) parts.push(sql`false`);
    else parts.push(sql`${senderCol} IN (${sql.join(f.senders)})`);
  }
  if (f.notSenders && f.notSenders.length > 0)
    parts.push(sql`${senderCol} NOT IN (${sql.join(f.notSenders)})`);
  if (parts.length === 0) return sql``;
  return sql` AND ${sql.join(parts, sql` AND `)}`;
}
