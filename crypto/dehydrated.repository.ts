import { type Kysely, sql } from "kysely";
import type { CryptoTables, JsonObject } from "./tables.ts";

/** olm_accounts: each user's (at most one) dehydrated device and its encrypted pickle. */
export class DehydratedRepository {
  constructor(private readonly db: Kysely<CryptoTables>) {}

  async get(
    userId: string,
    db: Kysely<CryptoTables> = this.db,
  ): Promise<{ deviceId: string; deviceData: JsonObject } | null> {
    const row = await db
      .selectFrom("olm_accounts")
      .select(["device_id", "device_data"])
      .where("user_id", "=", userId)
      .executeTakeFirst();
    return row ? { deviceId: row.device_id, deviceData: row.device_data } : null;
  }

  /**
   * Serialises replacements of the user's dehydrated device for the rest of the transaction (an
   * advisory lock, since there may be no row to lock yet) and returns the current one.
   */
  async getForUpdate(db: Kysely<CryptoTables>, userId: string): Promise<{ deviceId: string } | null> {
    await sql`SELECT pg_advisory_xact_lock(hashtext(${`dehydrated:${userId}`}))`.execute(db);
    const row = await db
      .selectFrom("olm_accounts")
      .select(["device_id"])
      .where("user_id", "=", userId)
      .forUpdate()
      .executeTakeFirst();
    return row ? { deviceId: row.device_id } : null;
  }

  async put(
    db: Kysely<CryptoTables>,
    userId: string,
    deviceId: string,
    deviceData: JsonObject,
  ): Promise<void> {
    await db
      .insertInto("olm_accounts")
      .values({
        user_id: userId,
        device_id: deviceId,
        device_data: JSON.stringify(deviceData),
        created_at: Date.now(),
      })
      .onConflict((oc) =>
        oc.column("user_id").doUpdateSet((eb) => ({
          device_id: eb.ref("excluded.device_id"),
          device_data: eb.ref("excluded.device_data"),
          created_at: eb.ref("excluded.created_at"),
        })),
      )
      .execute();
  }

  async delete(db: Kysely<CryptoTables>, userId: string): Promise<void> {
    await db.deleteFrom("olm_accounts").where("user_id", "=", userId).execute();
  }
}
