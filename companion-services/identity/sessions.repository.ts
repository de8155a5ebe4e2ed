import type { Kysely, Selectable, Transaction } from "kysely";
import type { Device } from "./client.ts";
import type { IdentityTables } from "./tables.ts";

export type SessionRow = Selectable<IdentityTables["sessions"]>;

/** A session row as the client interface shows a device. */
export function toDevice(r: {
  device_id: string;
  display_name: string | null;
  last_seen_ip: string | null;
  last_seen_at: number | null;
}): Device {
  return {
    deviceId: r.device_id,
    displayName: r.display_name,
    lastSeenIp: r.last_seen_ip,
    lastSeenTs: r.last_seen_at === null ? null : Number(r.last_seen_at),
  };
}

export class SessionsRepository {
  constructor(private readonly db: Kysely<IdentityTables>) {}

  async byTokenHash(tokenHash: string): Promise<SessionRow | undefined> {
    return this.db.selectFrom("sessions").selectAll().where("token_hash", "=", tokenHash).executeTakeFirst();
  }

  async byDevice(userId: string, deviceId: string): Promise<SessionRow | undefined> {
    return this.db
      .selectFrom("sessions")
      .selectAll()
      .where("user_id", "=", userId)
      .where("device_id", "=", deviceId)
      .executeTakeFirst();
  }

  async byUser(userId: string): Promise<SessionRow[]> {
    return this.db
      .selectFrom("sessions")
      .selectAll()
      .where("user_id", "=", userId)
      .orderBy("created_at")
      .execute();
  }

  /** Replaces the device's session (a re-login on the same device id gets a new token). */
  async upsertForDevice(
    trx: Transaction<IdentityTables>,
    row: SessionRow,
  ): Promise<{ replaced: SessionRow | undefined }> {
    const replaced = await trx
      .deleteFrom("sessions")
      .where("user_id", "=", row.user_id)
      .where("device_id", "=", row.device_id)
      .returningAll()
      .executeTakeFirst();
    await trx
      .insertInto("sessions")
      .values({ ...row, display_name: row.display_name ?? replaced?.display_name ?? null })
      .execute();
    return { replaced };
  }

  async deleteById(id: string): Promise<SessionRow | undefined> {
    return this.db.deleteFrom("sessions").where("id", "=", id).returningAll().executeTakeFirst();
  }

  async deleteDevice(userId: string, deviceId: string): Promise<SessionRow | undefined> {
    return this.db
      .deleteFrom("sessions")
      .where("user_id", "=", userId)
      .where("device_id", "=", deviceId)
      .returningAll()
      .executeTakeFirst();
  }

  async deleteAllForUser(userId: string, exceptId?: string): Promise<SessionRow[]> {
    let q = this.db.deleteFrom("sessions").where("user_id", "=", userId);
    if (exceptId) q = q.where("id", "!=", exceptId);
    return q.returningAll().execute();
  }

  async setDisplayName(userId: string, deviceId: string, name: string | null): Promise<boolean> {
    const r = await this.db
      .updateTable("sessions")
      .set({ display_name: name })
      .where("user_id", "=", userId)
      .where("device_id", "=", deviceId)
      .executeTakeFirst();
    return Number(r.numUpdatedRows) > 0;
  }

  async touch(id: string, ip: string | null, at: number): Promise<void> {
    await this.db
      .updateTable("sessions")
      .set({ last_seen_at: at, last_seen_ip: ip })
      .where("id", "=", id)
      .execute();
  }

  async rotateToken(
    trx: Transaction<IdentityTables>,
    sessionId: string,
    tokenHash: string,
    expiresAt: number | null,
  ): Promise<void> {
    await trx
      .updateTable("sessions")
      .set({ token_hash: tokenHash, expires_at: expiresAt })
      .where("id", "=", sessionId)
      .execute();
  }
}
