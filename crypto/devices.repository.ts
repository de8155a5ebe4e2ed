import { type Kysely, type Selectable, sql } from "kysely";
import type { CryptoTables, JsonObject } from "./tables.ts";

export type StoredDevice = {
  userId: string;
  deviceId: string;
  displayName: string | null;
  deviceKeys: JsonObject | null;
  dehydrated: boolean;
};

/** user_devices: the devices that may hold keys, with their signed device keys. */
export class DevicesRepository {
  constructor(private readonly db: Kysely<CryptoTables>) {}

  async get(
    userId: string,
    deviceId: string,
    db: Kysely<CryptoTables> = this.db,
  ): Promise<StoredDevice | null> {
    const row = await db
      .selectFrom("user_devices")
      .selectAll()
      .where("user_id", "=", userId)
      .where("device_id", "=", deviceId)
      .executeTakeFirst();
    return row ? toDevice(row) : null;
  }

  /** Every device of these users (one round trip), keyed by user. */
  async ofUsers(userIds: string[]): Promise<StoredDevice[]> {
    if (userIds.length === 0) return [];
    const rows = await this.db
      .selectFrom("user_devices")
      .selectAll()
      .where(sql<boolean>`user_id = ANY(${userIds}::text[])`)
      .execute();
    return rows.map(toDevice);
  }

  /**
   * The stored device keys of these users' devices as JSON text (one round trip): /keys/query
   * splices the text into its response instead of parsing and re-serialising a thousand objects.
   */
  async keysTextOfUsers(
    userIds: string[],
  ): Promise<{ userId: string; deviceId: string; displayName: string | null; keysJson: string }[]> {
    if (userIds.length === 0) return [];
    const rows = await sql<{ user_id: string; device_id: string; display_name: string | null; keys: string }>`
      SELECT user_id, device_id, display_name, device_keys::text AS keys FROM user_devices
      WHERE user_id = ANY(${userIds}::text[]) AND device_keys IS NOT NULL`.execute(this.db);
    return rows.rows.map((r) => ({
      userId: r.user_id,
      deviceId: r.device_id,
      displayName: r.display_name,
      keysJson: r.keys,
    }));
  }

  /** Device ids of one user (to-device `*` expansion). */
  async deviceIds(
    userIds: string[],
    db: Kysely<CryptoTables> = this.db,
  ): Promise<{ userId: string; deviceId: string }[]> {
    if (userIds.length === 0) return [];
    const rows = await db
      .selectFrom("user_devices")
      .select(["user_id", "device_id"])
      .where(sql<boolean>`user_id = ANY(${userIds}::text[])`)
      .execute();
    return rows.map((r) => ({ userId: r.user_id, deviceId: r.device_id }));
  }

  /** Creates the device row if missing; returns whether it was created. */
  async ensure(
    db: Kysely<CryptoTables>,
    d: { userId: string; deviceId: string; displayName: string | null; dehydrated?: boolean },
  ): Promise<boolean> {
    const r = await db
      .insertInto("user_devices")
      .values({
        user_id: d.userId,
        device_id: d.deviceId,
        display_name: d.displayName,
        device_keys: null,
        dehydrated: d.dehydrated ?? false,
        created_at: Date.now(),
      })
      .onConflict((oc) => oc.columns(["user_id", "device_id"]).doNothing())
      .executeTakeFirst();
    return Number(r.numInsertedOrUpdatedRows ?? 0) > 0;
  }

  async setKeys(db: Kysely<CryptoTables>, userId: string, deviceId: string, keys: JsonObject): Promise<void> {
    await db
      .updateTable("user_devices")
      .set({ device_keys: JSON.stringify(keys) })
      .where("user_id", "=", userId)
      .where("device_id", "=", deviceId)
      .execute();
  }

  async setDisplayName(userId: string, deviceId: string, displayName: string | null): Promise<boolean> {
    const r = await this.db
      .updateTable("user_devices")
      .set({ display_name: displayName })
      .where("user_id", "=", userId)
      .where("device_id", "=", deviceId)
      .executeTakeFirst();
    return Number(r.numUpdatedRows) > 0;
  }

  /** Deletes a device row; returns whether it existed. */
  async delete(db: Kysely<CryptoTables>, userId: string, deviceId: string): Promise<boolean> {
    const r = await db
      .deleteFrom("user_devices")
      .where("user_id", "=", userId)
      .where("device_id", "=", deviceId)
      .executeTakeFirst();
    return Number(r.numDeletedRows) > 0;
  }
}

function toDevice(row: Selectable<CryptoTables["user_devices"]>): StoredDevice {
  return {
    userId: row.user_id,
    deviceId: row.device_id,
    displayName: row.display_name,
    deviceKeys: row.device_keys,
    dehydrated: row.dehydrated,
  };
}
