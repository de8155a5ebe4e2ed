import { sql } from "kysely";
import type { RoomsDb, RoomsExecutor } from "../tables.ts";
import {
  EVENT_COLUMNS,
  EVENT_COLUMNS_M,
  type EventRow,
  type MembershipChange,
  type UserMembership,
  type VisibilityChange,
} from "./rows.ts";

const STATE_COLUMNS = EVENT_COLUMNS.map((c) => `m.${c}` as const);

function historyVisibilityOf(pdu: string): string {
  const c = (JSON.parse(pdu) as { content?: { history_visibility?: unknown } }).content;
  return typeof c?.history_visibility === "string" ? c.history_visibility : "shared";
}

/** Room state (current and at a position), memberships and the history visibility reads need. */
export class StateRepository {
  constructor(private readonly db: RoomsDb) {}

  /** Current state events of a room, with their rows. */
  async currentState(roomId: string, db: RoomsExecutor = this.db): Promise<EventRow[]> {
    return db
      .selectFrom("room_state as s")
      .innerJoin("messages as m", "m.event_id", "s.event_id")
      .select(STATE_COLUMNS)
      .where("s.room_id", "=", roomId)
      .execute();
  }

  /** currentState of many rooms at once, by room. */
  async currentStateMany(roomIds: readonly string[]): Promise<Map<string, EventRow[]>> {
    const out = new Map<string, EventRow[]>();
    if (roomIds.length === 0) return out;
    const rows = await this.db
      .selectFrom("room_state as s")
      .innerJoin("messages as m", "m.event_id", "s.event_id")
      .select(STATE_COLUMNS)
      .where("s.room_id", "in", roomIds)
      .execute();
    for (const r of rows) {
      const list = out.get(r.room_id);
      if (list) list.push(r);
      else out.set(r.room_id, [r]);
    }
    return out;
  }

  /**
   * Rooms anyone may join or read (join rule public, or history world_readable): the rooms whose
   * joined members the user directory shows to everyone, as Synapse's directory does.
   */
  async openRoomIds(): Promise<string[]> {
    const rows = await this.db
      .selectFrom("room_state as s")
      .innerJoin("messages as m", "m.event_id", "s.event_id")
      .select("s.room_id")
      .distinct()
      .where("s.state_key", "=", "")
      .where(
        sql<boolean>`(s.type = 'm.room.join_rules' AND (m.pdu::jsonb -> 'content' ->> 'join_rule') = 'public')
          OR (s.type = 'm.room.history_visibility'
            AND (m.pdu::jsonb -> 'content' ->> 'history_visibility') = 'world_readable')`,
      )
      .execute();
    return rows.map((r) => r.room_id);
  }

  /** The room's state after every event at or below `position`. */
  async stateAt(roomId: string, position: number, types?: string[]): Promise<EventRow[]> {
    return this.db
      .selectFrom("messages")
      .distinctOn(["type", "state_key"])
      .select(EVENT_COLUMNS)
      .where("room_id", "=", roomId)
      .where("state_key", "is not", null)
      .where("stream_position", "<=", position)
      .$if(types !== undefined && types.length > 0, (qb) => qb.where("type", "in", types!))
      .orderBy("type")
      .orderBy("state_key")
      .orderBy("stream_position", "desc")
      .execute();
  }

  /**
   * The state of several rooms, each at its own position, in one query (initial syncs). With
   * `members`, only those users' member events are read (lazy-loaded members: a room of
   * thousands sends a handful, and reading the rest would dominate the response).
   */
  async stateAtMany(
    targets: { roomId: string; position: number; members?: string[] }[],
  ): Promise<Map<string, EventRow[]>> {
    const out = new Map<string, EventRow[]>();
    if (targets.length === 0) return out;
    // '' is "every member"; otherwise a JSON array of user ids.
    const members = targets.map((t) => (t.members ? JSON.stringify(t.members) : ""));
    const r =
      await sql<EventRow>`SELECT ${EVENT_COLUMNS_M} FROM unnest(${targets.map((t) => t.roomId)}::text[],
        ${targets.map((t) => t.position)}::bigint[], ${members}::text[]) AS r(room_id, upto, members)
      CROSS JOIN LATERAL (SELECT DISTINCT ON (type, state_key) * FROM messages x
        WHERE x.room_id = r.room_id AND x.state_key IS NOT NULL AND x.stream_position <= r.upto
          AND (r.members = '' OR x.type <> 'm.room.member'
            OR x.state_key IN (SELECT jsonb_array_elements_text(r.members::jsonb)))
        ORDER BY type, state_key, stream_position DESC) m`.execute(this.db);
    for (const row of r.rows) {
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
    memberships: Map<string, MembershipChange[]>;
    visibilities: Map<string, VisibilityChange[]>;
  }> {
    const memberships = new Map<string, MembershipChange[]>();
    const visibilities = new Map<string, VisibilityChange[]>();
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
        const list = visibilities.get(x.room_id) ?? [];
        list.push({ visibility: historyVisibilityOf(x.pdu), stream_position: position });
        visibilities.set(x.room_id, list);
      }
    }
    return { memberships, visibilities };
  }

  /** The user's member events in a room, oldest first (history visibility needs all of them). */
  async membershipHistory(roomId: string, userId: string): Promise<MembershipChange[]> {
    const rows = await this.db
      .selectFrom("messages")
      .select(["membership", "stream_position"])
      .where("type", "=", "m.room.member")
      .where("state_key", "=", userId)
      .where("room_id", "=", roomId)
      .orderBy("stream_position")
      .execute();
    // A member event always has a membership: authorisation refuses one without.
    return rows.map((x) => ({
      membership: x.membership ?? "leave",
      stream_position: Number(x.stream_position),
    }));
  }

  /** History-visibility changes of a room, oldest first. */
  async visibilityHistory(roomId: string): Promise<VisibilityChange[]> {
    const rows = await this.db
      .selectFrom("messages")
      .select(["pdu", "stream_position"])
      .where("room_id", "=", roomId)
      .where("type", "=", "m.room.history_visibility")
      .where("state_key", "=", "")
      .orderBy("stream_position")
      .execute();
    return rows.map((x) => ({
      visibility: historyVisibilityOf(x.pdu),
      stream_position: Number(x.stream_position),
    }));
  }

  /** The user's current memberships (not forgotten). */
  async membershipsOf(userId: string): Promise<UserMembership[]> {
    const rows = await this.db
      .selectFrom("conversation_members")
      .select(["room_id", "membership", "event_id", "stream_position", "forgotten"])
      .where("user_id", "=", userId)
      .execute();
    return rows.map((x) => ({ ...x, stream_position: Number(x.stream_position) }));
  }

  /** The user's membership event in each of `roomIds` as of `position`. */
  async membershipsAt(
    userId: string,
    roomIds: string[],
    position: number,
  ): Promise<{ room_id: string; membership: string; event_id: string; stream_position: number }[]> {
    if (roomIds.length === 0) return [];
    const rows = await this.db
      .selectFrom("messages")
      .distinctOn("room_id")
      .select(["room_id", "membership", "event_id", "stream_position"])
      .where("type", "=", "m.room.member")
      .where("state_key", "=", userId)
      .where("room_id", "in", roomIds)
      .where("stream_position", "<=", position)
      .orderBy("room_id")
      .orderBy("stream_position", "desc")
      .execute();
    return rows.map((x) => ({
      ...x,
      membership: x.membership ?? "leave",
      stream_position: Number(x.stream_position),
    }));
  }

  async setForgotten(trx: RoomsExecutor, roomId: string, userId: string): Promise<void> {
    await trx
      .updateTable("conversation_members")
      .set({ forgotten: true })
      .where("room_id", "=", roomId)
      .where("user_id", "=", userId)
      .execute();
  }
}
