import { type Kysely, sql } from "kysely";
import type { CryptoTables, JsonObject } from "./tables.ts";

export type ToDeviceEvent = { sender: string; type: string; content: JsonObject };
export type QueuedMessage = { userId: string; deviceId: string; content: JsonObject };

/** Per-device to-device inboxes (to_device_messages) and the txnIds already handled. */
export class ToDeviceRepository {
  constructor(private readonly db: Kysely<CryptoTables>) {}

  /**
   * Claims a txnId for (sender device, path). False when it was already used: the request is a
   * retransmission and must queue nothing. A concurrent twin waits on the unique index until the
   * first commits, then sees the conflict.
   */
  async claimTxn(
    db: Kysely<CryptoTables>,
    userId: string,
    deviceId: string,
    txnKey: string,
  ): Promise<boolean> {
    const r = await db
      .insertInto("to_device_txns")
      .values({ user_id: userId, device_id: deviceId, txn_key: txnKey, created_at: Date.now() })
      .onConflict((oc) => oc.columns(["user_id", "device_id", "txn_key"]).doNothing())
      .executeTakeFirst();
    return Number(r.numInsertedOrUpdatedRows ?? 0) > 0;
  }

  async pruneTxns(olderThan: number): Promise<void> {
    await this.db.deleteFrom("to_device_txns").where("created_at", "<", olderThan).execute();
  }

  /** Queues messages at `position` (one per target device). */
  async enqueue(
    db: Kysely<CryptoTables>,
    position: number,
    sender: string,
    type: string,
    messages: QueuedMessage[],
  ): Promise<void> {
    if (messages.length === 0) return;
    await sql`
      INSERT INTO to_device_messages (user_id, device_id, position, sender, type, content)
      SELECT u, d, ${position}, ${sender}, ${type}, c::jsonb
      FROM unnest(${messages.map((m) => m.userId)}::text[], ${messages.map((m) => m.deviceId)}::text[],
                  ${messages.map((m) => JSON.stringify(m.content))}::text[]) AS t(u, d, c)`.execute(db);
  }

  /** Messages for a device with position in (after, upTo], in arrival order. */
  async pending(
    userId: string,
    deviceId: string,
    after: number,
    upTo: number,
    limit?: number,
  ): Promise<(ToDeviceEvent & { position: number })[]> {
    let q = this.db
      .selectFrom("to_device_messages")
      .select(["position", "sender", "type", "content"])
      .where("user_id", "=", userId)
      .where("device_id", "=", deviceId)
      .where("position", ">", after)
      .where("position", "<=", upTo)
      .orderBy("position");
    if (limit !== undefined) q = q.limit(limit);
    const rows = await q.execute();
    return rows.map((r) => ({
      position: Number(r.position),
      sender: r.sender,
      type: r.type,
      content: r.content,
    }));
  }

  /** The device has received everything up to `position`: those messages go. */
  async acknowledge(userId: string, deviceId: string, position: number): Promise<void> {
    await this.db
      .deleteFrom("to_device_messages")
      .where("user_id", "=", userId)
      .where("device_id", "=", deviceId)
      .where("position", "<=", position)
      .execute();
  }

  async deleteInbox(db: Kysely<CryptoTables>, userId: string, deviceId: string): Promise<void> {
    await db
      .deleteFrom("to_device_messages")
      .where("user_id", "=", userId)
      .where("device_id", "=", deviceId)
      .execute();
  }
}
