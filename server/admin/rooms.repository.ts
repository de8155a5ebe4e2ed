import { sql } from "kysely";
import type { AdminDb } from "./tables.ts";

export const ROOM_ORDER = [
  "name",
  "canonical_alias",
  "joined_members",
  "joined_local_members",
  "version",
  "creator",
  "encryption",
  "federatable",
  "public",
  "join_rules",
  "guest_access",
  "history_visibility",
  "state_events",
] as const;
export type RoomOrder = (typeof ROOM_ORDER)[number];

export type RoomSummaryRow = {
  room_id: string;
  name: string | null;
  canonical_alias: string | null;
  joined_members: number;
  joined_local_members: number;
  version: string;
  creator: string;
  encryption: string | null;
  federatable: boolean;
  public: boolean;
  join_rules: string | null;
  guest_access: string | null;
  history_visibility: string | null;
  state_events: number;
  room_type: string | null;
  topic: string | null;
  avatar: string | null;
};

/** Tables a purge empties of one room (room_txns has no room column; its rows expire). */
const PURGED = [
  "message_attachments",
  "message_recalls",
  "message_edit_history",
  "message_reactions",
  "message_relations",
  "room_aliases",
  "conversation_members",
  "room_state",
  "messages",
] as const;

/** The admin API's room reads (summaries of many rooms in one statement) and its block list and purge. */
export class AdminRoomsRepository {
  constructor(
    private readonly db: AdminDb,
    private readonly serverName: string,
  ) {}

  /** One row per room with Synapse's room-list columns, read from the current state in SQL. */
  private summaries() {
    const content = (type: string, key: string) =>
      sql<string | null>`(SELECT (m.pdu::jsonb) -> 'content' ->> ${key} FROM room_state s
        JOIN messages m ON m.event_id = s.event_id
        WHERE s.room_id = c.room_id AND s.type = ${type} AND s.state_key = '')`;
    const localSuffix = `%:${this.serverName}`;
    return this.db.selectFrom("conversations as c").select([
      "c.room_id",
      "c.room_version as version",
      "c.creator",
      "c.is_public as public",
      content("m.room.name", "name").as("name"),
      content("m.room.canonical_alias", "alias").as("canonical_alias"),
      content("m.room.join_rules", "join_rule").as("join_rules"),
      content("m.room.guest_access", "guest_access").as("guest_access"),
      content("m.room.history_visibility", "history_visibility").as("history_visibility"),
      content("m.room.encryption", "algorithm").as("encryption"),
      content("m.room.create", "type").as("room_type"),
      content("m.room.topic", "topic").as("topic"),
      content("m.room.avatar", "url").as("avatar"),
      sql<boolean>`COALESCE(${content("m.room.create", "m.federate")}, 'true') <> 'false'`.as("federatable"),
      sql<number>`(SELECT count(*) FROM conversation_members cm
          WHERE cm.room_id = c.room_id AND cm.membership = 'join')`.as("joined_members"),
      sql<number>`(SELECT count(*) FROM conversation_members cm
          WHERE cm.room_id = c.room_id AND cm.membership = 'join' AND cm.user_id LIKE ${localSuffix})`.as(
        "joined_local_members",
      ),
      sql<number>`(SELECT count(*) FROM room_state rs WHERE rs.room_id = c.room_id)`.as("state_events"),
    ]);
  }

  async list(opts: {
    from: number;
    limit: number;
    orderBy: RoomOrder;
    dir: "f" | "b";
    search?: string;
  }): Promise<{ rooms: RoomSummaryRow[]; total: number }> {
    let q = this.db.selectFrom(this.summaries().as("r"));
    if (opts.search !== undefined) {
      const pattern = `%${opts.search.toLowerCase().replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
      q = q.where((eb) =>
        eb.or([
          eb(eb.fn("lower", ["r.name"]), "like", pattern),
          eb(eb.fn("lower", ["r.canonical_alias"]), "like", pattern),
          eb("r.room_id", "=", opts.search!),
        ]),
      );
    }
    const counted = await q.select((eb) => eb.fn.countAll<number>().as("n")).executeTakeFirstOrThrow();
    // Synapse sorts counts biggest first when dir=f, as a list of "largest rooms" expects.
    const numeric = ["joined_members", "joined_local_members", "state_events"].includes(opts.orderBy);
    const asc = numeric ? opts.dir === "b" : opts.dir === "f";
    const rows = await q
      .selectAll()
      .orderBy(`r.${opts.orderBy}`, (ob) => (asc ? ob.asc().nullsLast() : ob.desc().nullsFirst()))
      .orderBy("r.room_id", asc ? "asc" : "desc")
      .limit(opts.limit)
      .offset(opts.from)
      .execute();
    return { rooms: rows.map(numbers), total: Number(counted.n) };
  }

  async get(roomId: string): Promise<RoomSummaryRow | null> {
    const row = await this.summaries().where("c.room_id", "=", roomId).executeTakeFirst();
    return row ? numbers(row) : null;
  }

  /** The stored PDU of an event (event reports show it to admins whatever its visibility). */
  async eventPdu(eventId: string): Promise<Record<string, unknown> | null> {
    const r = await this.db
      .selectFrom("messages")
      .select("pdu")
      .where("event_id", "=", eventId)
      .executeTakeFirst();
    return r ? (JSON.parse(r.pdu) as Record<string, unknown>) : null;
  }

  /** Local users with a membership that keeps them in the room (join, invite, knock). */
  async localMembers(roomId: string): Promise<{ userId: string; membership: string }[]> {
    const rows = await this.db
      .selectFrom("conversation_members")
      .select(["user_id", "membership"])
      .where("room_id", "=", roomId)
      .where("membership", "in", ["join", "invite", "knock"])
      .where("user_id", "like", `%:${this.serverName}`)
      .orderBy("user_id")
      .execute();
    return rows.map((r) => ({ userId: r.user_id, membership: r.membership }));
  }

  async everMembers(roomId: string): Promise<string[]> {
    const rows = await this.db
      .selectFrom("conversation_members")
      .select("user_id")
      .where("room_id", "=", roomId)
      .execute();
    return rows.map((r) => r.user_id);
  }

  /** Removes the room's local aliases and takes it out of the public directory; returns the aliases. */
  async unlist(roomId: string): Promise<string[]> {
    const rows = await this.db
      .deleteFrom("room_aliases")
      .where("room_id", "=", roomId)
      .returning("alias")
      .execute();
    await this.db
      .updateTable("conversations")
      .set({ is_public: false })
      .where("room_id", "=", roomId)
      .execute();
    return rows.map((r) => r.alias);
  }

  async block(roomId: string, by: string, at: number): Promise<void> {
    await this.db
      .insertInto("blocked_rooms")
      .values({ room_id: roomId, blocked_by: by, blocked_at: at })
      .onConflict((oc) => oc.doNothing())
      .execute();
  }

  async unblock(roomId: string): Promise<void> {
    await this.db.deleteFrom("blocked_rooms").where("room_id", "=", roomId).execute();
  }

  async blockedBy(roomId: string): Promise<string | null> {
    const r = await this.db
      .selectFrom("blocked_rooms")
      .select("blocked_by")
      .where("room_id", "=", roomId)
      .executeTakeFirst();
    return r?.blocked_by ?? null;
  }

  /** Deletes the room's events, state, memberships, relations and the room itself, in one transaction. */
  async purge(roomId: string): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      for (const table of PURGED) {
        await trx.deleteFrom(table).where("room_id", "=", roomId).execute();
      }
      await trx.deleteFrom("conversations").where("room_id", "=", roomId).execute();
    });
  }
}

function numbers<T extends { joined_members: unknown; joined_local_members: unknown; state_events: unknown }>(
  r: T,
): T & { joined_members: number; joined_local_members: number; state_events: number } {
  return {
    ...r,
    joined_members: Number(r.joined_members),
    joined_local_members: Number(r.joined_local_members),
    state_events: Number(r.state_events),
  };
}
