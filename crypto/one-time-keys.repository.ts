import { type Kysely, sql } from "kysely";
import type { CryptoTables, JsonObject } from "./tables.ts";

export type DeviceRef = { userId: string; deviceId: string };
export type UploadedKey = { algorithm: string; keyId: string; key: JsonObject | string };
export type ClaimedKey = {
  userId: string;
  deviceId: string;
  algorithm: string;
  keyId: string;
  key: JsonObject | string;
  fallback: boolean;
};

/**
 * One-time keys (olm_one_time_keys) and fallback keys (olm_fallback_keys) of devices.
 */
export class OneTimeKeysRepository {
  constructor(private readonly db: Kysely<CryptoTables>) {}

  /**
   * Inserts the keys that are not stored yet; returns the stored version of each key id that
   * already existed, for the caller to compare (an identical re-upload is fine, a different key
   * under the same id is not).
   */
  async insertOneTimeKeys(
    db: Kysely<CryptoTables>,
    device: DeviceRef,
    keys: UploadedKey[],
  ): Promise<Map<string, JsonObject | string>> {
    if (keys.length === 0) return new Map();
    const inserted = await sql<{ algorithm: string; key_id: string }>`
      INSERT INTO olm_one_time_keys (user_id, device_id, algorithm, key_id, key_json)
      SELECT ${device.userId}, ${device.deviceId}, a, k, j::jsonb
      FROM unnest(${keys.map((k) => k.algorithm)}::text[], ${keys.map((k) => k.keyId)}::text[],
                  ${keys.map((k) => JSON.stringify(k.key))}::text[]) WITH ORDINALITY AS t(a, k, j, n)
      ORDER BY n
      ON CONFLICT (user_id, device_id, algorithm, key_id) DO NOTHING
      RETURNING algorithm, key_id`.execute(db);
    if (inserted.rows.length === keys.length) return new Map();
    const fresh = new Set(inserted.rows.map((r) => `${r.algorithm}:${r.key_id}`));
    const existing = keys.filter((k) => !fresh.has(`${k.algorithm}:${k.keyId}`));
    const rows = await sql<{ algorithm: string; key_id: string; key_json: JsonObject | string }>`
      SELECT algorithm, key_id, key_json FROM olm_one_time_keys
      WHERE user_id = ${device.userId} AND device_id = ${device.deviceId}
        AND (algorithm, key_id) IN (
          SELECT * FROM unnest(${existing.map((k) => k.algorithm)}::text[], ${existing.map((k) => k.keyId)}::text[]))
    `.execute(db);
    return new Map(rows.rows.map((r) => [`${r.algorithm}:${r.key_id}`, r.key_json]));
  }

  /** The stored fallback keys of a device, by algorithm. */
  async fallbackKeys(
    db: Kysely<CryptoTables>,
    device: DeviceRef,
  ): Promise<Map<string, { keyId: string; key: JsonObject; used: boolean }>> {
    const rows = await db
      .selectFrom("olm_fallback_keys")
      .select(["algorithm", "key_id", "key_json", "used"])
      .where("user_id", "=", device.userId)
      .where("device_id", "=", device.deviceId)
      .execute();
    return new Map(rows.map((r) => [r.algorithm, { keyId: r.key_id, key: r.key_json, used: r.used }]));
  }

  async setFallbackKey(
    db: Kysely<CryptoTables>,
    device: DeviceRef,
    key: { algorithm: string; keyId: string; key: JsonObject; used: boolean },
  ): Promise<void> {
    await db
      .insertInto("olm_fallback_keys")
      .values({
        user_id: device.userId,
        device_id: device.deviceId,
        algorithm: key.algorithm,
        key_id: key.keyId,
        key_json: JSON.stringify(key.key),
        used: key.used,
      })
      .onConflict((oc) =>
        oc.columns(["user_id", "device_id", "algorithm"]).doUpdateSet((eb) => ({
          key_id: eb.ref("excluded.key_id"),
          key_json: eb.ref("excluded.key_json"),
          used: eb.ref("excluded.used"),
        })),
      )
      .execute();
  }

  /** Unclaimed one-time keys per algorithm; `signed_curve25519` is always present. */
  async counts(device: DeviceRef, db: Kysely<CryptoTables> = this.db): Promise<Record<string, number>> {
    const rows = await sql<{ algorithm: string; n: number }>`
      SELECT algorithm, count(*)::int AS n FROM olm_one_time_keys
      WHERE user_id = ${device.userId} AND device_id = ${device.deviceId}
      GROUP BY algorithm`.execute(db);
    const out: Record<string, number> = { signed_curve25519: 0 };
    for (const r of rows.rows) out[r.algorithm] = Number(r.n);
    return out;
  }

  /**
   * For /sync, in one round trip: one-time key counts and the algorithms whose fallback key has not
   * been handed out yet.
   */
  async syncState(device: DeviceRef): Promise<{ counts: Record<string, number>; unusedFallback: string[] }> {
    const rows = await sql<{ kind: string; algorithm: string; n: number }>`
      SELECT 'otk' AS kind, algorithm, count(*)::int AS n FROM olm_one_time_keys
      WHERE user_id = ${device.userId} AND device_id = ${device.deviceId}
      GROUP BY algorithm
      UNION ALL
      SELECT 'fallback', algorithm, 0 FROM olm_fallback_keys
      WHERE user_id = ${device.userId} AND device_id = ${device.deviceId} AND NOT used`.execute(this.db);
    const counts: Record<string, number> = { signed_curve25519: 0 };
    const unusedFallback: string[] = [];
    for (const r of rows.rows) {
      if (r.kind === "otk") counts[r.algorithm] = Number(r.n);
      else unusedFallback.push(r.algorithm);
    }
    return { counts, unusedFallback };
  }

  /**
   * Claims one key per requested (user, device, algorithm) in a single statement: the oldest
   * one-time key is deleted and returned (rows another claimer has locked are skipped, so no key is
   * ever handed out twice); a device with none left gets its fallback key, which is kept and
   * marked used. Devices with neither are absent from the result.
   */
  async claim(requests: (DeviceRef & { algorithm: string })[]): Promise<ClaimedKey[]> {
    if (requests.length === 0) return [];
    const r = await sql<{
      user_id: string;
      device_id: string;
      algorithm: string;
      key_id: string;
      key_json: JsonObject | string;
      fallback: boolean;
    }>`
      WITH req AS (
        SELECT * FROM unnest(${requests.map((q) => q.userId)}::text[], ${requests.map((q) => q.deviceId)}::text[],
                             ${requests.map((q) => q.algorithm)}::text[]) AS r(user_id, device_id, algorithm)
      ),
      picked AS (
        SELECT k.id FROM req CROSS JOIN LATERAL (
          SELECT o.id FROM olm_one_time_keys o
          WHERE o.user_id = req.user_id AND o.device_id = req.device_id AND o.algorithm = req.algorithm
          ORDER BY o.id LIMIT 1
          FOR UPDATE SKIP LOCKED
        ) k
      ),
      claimed AS (
        DELETE FROM olm_one_time_keys WHERE id IN (SELECT id FROM picked)
        RETURNING user_id, device_id, algorithm, key_id, key_json
      ),
      fallback AS (
        UPDATE olm_fallback_keys f SET used = true
        FROM req
        WHERE f.user_id = req.user_id AND f.device_id = req.device_id AND f.algorithm = req.algorithm
          AND NOT EXISTS (
            SELECT 1 FROM claimed c
            WHERE c.user_id = req.user_id AND c.device_id = req.device_id AND c.algorithm = req.algorithm)
        RETURNING f.user_id, f.device_id, f.algorithm, f.key_id, f.key_json
      )
      SELECT user_id, device_id, algorithm, key_id, key_json, false AS fallback FROM claimed
      UNION ALL
      SELECT user_id, device_id, algorithm, key_id, key_json, true AS fallback FROM fallback`.execute(
      this.db,
    );
    return r.rows.map((row) => ({
      userId: row.user_id,
      deviceId: row.device_id,
      algorithm: row.algorithm,
      keyId: row.key_id,
      key: row.key_json,
      fallback: row.fallback,
    }));
  }

  /** Drops every one-time and fallback key of a device (deleted or replaced device). */
  async deleteDevice(db: Kysely<CryptoTables>, device: DeviceRef): Promise<void> {
    await db
      .deleteFrom("olm_one_time_keys")
      .where("user_id", "=", device.userId)
      .where("device_id", "=", device.deviceId)
      .execute();
    await db
      .deleteFrom("olm_fallback_keys")
      .where("user_id", "=", device.userId)
      .where("device_id", "=", device.deviceId)
      .execute();
  }
}
