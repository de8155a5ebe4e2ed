import type { ClientDb, ClientTables } from "./tables.ts";

export type ReceiptRow = ClientTables["receipts"];

/** Read receipts: one row per (room, user, type, thread), moved forward in place. */
export class ReceiptsRepository {
  constructor(private readonly db: ClientDb) {}

  async upsert(db: ClientDb, row: ReceiptRow): Promise<void> {
    await db
      .insertInto("receipts")
      .values(row)
      .onConflict((oc) =>
        oc
          .columns(["room_id", "user_id", "receipt_type", "thread_id"])
          .doUpdateSet({ event_id: row.event_id, ts: row.ts, stream_pos: row.stream_pos }),
      )
      .execute();
  }

  /** Receipts in these rooms written in (from, to]; all current ones when `from` is null. */
  async changed(roomIds: string[], from: number | null, to: number): Promise<ReceiptRow[]> {
    if (roomIds.length === 0) return [];
    let q = this.db
      .selectFrom("receipts")
      .selectAll()
      .where("room_id", "in", roomIds)
      .where("stream_pos", "<=", to);
    if (from !== null) q = q.where("stream_pos", ">", from);
    return q.orderBy("stream_pos").execute();
  }

  /** The user's m.read / m.read.private receipts in a room (every thread). */
  async readReceipts(roomId: string, userId: string): Promise<ReceiptRow[]> {
    return this.db
      .selectFrom("receipts")
      .selectAll()
      .where("room_id", "=", roomId)
      .where("user_id", "=", userId)
      .where("receipt_type", "in", ["m.read", "m.read.private"])
      .execute();
  }

  /** Every receipt of the user in the room. */
  async userReceipts(roomId: string, userId: string): Promise<ReceiptRow[]> {
    return this.db
      .selectFrom("receipts")
      .selectAll()
      .where("room_id", "=", roomId)
      .where("user_id", "=", userId)
      .execute();
  }

  /** The user's m.read / m.read.private receipts in every room (one query, cached by unread counting). */
  async readReceiptsOf(userId: string): Promise<ReceiptRow[]> {
    return this.db
      .selectFrom("receipts")
      .selectAll()
      .where("user_id", "=", userId)
      .where("receipt_type", "in", ["m.read", "m.read.private"])
      .execute();
  }
}
