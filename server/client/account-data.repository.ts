import type { ClientDb, ClientTables } from "./tables.ts";

export type AccountDataRow = ClientTables["account_data"];

/** Global ('' room) and per-room account data, each row stamped with its stream position. */
export class AccountDataRepository {
  constructor(private readonly db: ClientDb) {}

  async upsert(
    db: ClientDb,
    row: { userId: string; roomId: string; type: string; content: unknown; position: number },
  ): Promise<void> {
    const content = JSON.stringify(row.content);
    await db
      .insertInto("account_data")
      .values({
        user_id: row.userId,
        room_id: row.roomId,
        type: row.type,
        content,
        stream_pos: row.position,
      })
      .onConflict((oc) =>
        oc.columns(["user_id", "room_id", "type"]).doUpdateSet({ content, stream_pos: row.position }),
      )
      .execute();
  }

  async get(userId: string, roomId: string, type: string): Promise<AccountDataRow | undefined> {
    return this.db
      .selectFrom("account_data")
      .selectAll()
      .where("user_id", "=", userId)
      .where("room_id", "=", roomId)
      .where("type", "=", type)
      .executeTakeFirst();
  }

  /** The user's rows written in (from, to]; every row when `from` is null. */
  async changed(userId: string, from: number | null, to: number): Promise<AccountDataRow[]> {
    let q = this.db
      .selectFrom("account_data")
      .selectAll()
      .where("user_id", "=", userId)
      .where("stream_pos", "<=", to);
    if (from !== null) q = q.where("stream_pos", ">", from);
    return q.orderBy("stream_pos").execute();
  }

  /** The user's current per-room data in these rooms, as of `to`. */
  async forRooms(userId: string, roomIds: string[], to: number): Promise<AccountDataRow[]> {
    if (roomIds.length === 0) return [];
    return this.db
      .selectFrom("account_data")
      .selectAll()
      .where("user_id", "=", userId)
      .where("room_id", "in", roomIds)
      .where("stream_pos", "<=", to)
      .execute();
  }
}
