import { type Kysely, type Selectable, sql } from "kysely";
import type { BackupAuthData, CryptoTables, JsonObject } from "./tables.ts";

export type BackupVersion = {
  version: number;
  algorithm: string;
  authData: BackupAuthData;
  etag: number;
  deleted: boolean;
};

export type BackedUpSession = {
  roomId: string;
  sessionId: string;
  firstMessageIndex: number;
  forwardedCount: number;
  isVerified: boolean;
  sessionData: JsonObject;
};

/** Key backup: versions in room_key_history, sessions in megolm_inbound_sessions. */
export class BackupRepository {
  constructor(readonly db: Kysely<CryptoTables>) {}

  async create(
    db: Kysely<CryptoTables>,
    userId: string,
    algorithm: string,
    authData: BackupAuthData,
  ): Promise<number> {
    const r = await sql<{ version: number }>`
      INSERT INTO room_key_history (user_id, version, algorithm, auth_data, etag, deleted)
      VALUES (${userId}, nextval('room_key_version_seq'), ${algorithm}, ${JSON.stringify(authData)}::jsonb, 0, false)
      RETURNING version`.execute(db);
    return Number(r.rows[0]!.version);
  }

  /** The newest version that is not deleted. */
  async current(userId: string, db: Kysely<CryptoTables> = this.db): Promise<BackupVersion | null> {
    const row = await db
      .selectFrom("room_key_history")
      .selectAll()
      .where("user_id", "=", userId)
      .where("deleted", "=", false)
      .orderBy("version", "desc")
      .limit(1)
      .executeTakeFirst();
    return row ? toVersion(row) : null;
  }

  async get(
    userId: string,
    version: number,
    db: Kysely<CryptoTables> = this.db,
  ): Promise<BackupVersion | null> {
    const row = await db
      .selectFrom("room_key_history")
      .selectAll()
      .where("user_id", "=", userId)
      .where("version", "=", version)
      .executeTakeFirst();
    return row ? toVersion(row) : null;
  }

  /** Locks the user's backup versions for the rest of the transaction (writers serialise here). */
  async lockVersions(db: Kysely<CryptoTables>, userId: string): Promise<void> {
    await sql`SELECT version FROM room_key_history WHERE user_id = ${userId} FOR UPDATE`.execute(db);
  }

  async updateAuthData(
    db: Kysely<CryptoTables>,
    userId: string,
    version: number,
    authData: BackupAuthData,
  ): Promise<void> {
    await db
      .updateTable("room_key_history")
      .set({ auth_data: JSON.stringify(authData) })
      .where("user_id", "=", userId)
      .where("version", "=", version)
      .execute();
  }

  async markDeleted(db: Kysely<CryptoTables>, userId: string, version: number): Promise<void> {
    await db
      .updateTable("room_key_history")
      .set({ deleted: true })
      .where("user_id", "=", userId)
      .where("version", "=", version)
      .execute();
    await this.deleteSessions(db, userId, version);
  }

  async bumpEtag(db: Kysely<CryptoTables>, userId: string, version: number): Promise<void> {
    await db
      .updateTable("room_key_history")
      .set((eb) => ({ etag: eb("etag", "+", 1) }))
      .where("user_id", "=", userId)
      .where("version", "=", version)
      .execute();
  }

  async count(userId: string, version: number, db: Kysely<CryptoTables> = this.db): Promise<number> {
    const r = await db
      .selectFrom("megolm_inbound_sessions")
      .select((eb) => eb.fn.countAll<number>().as("n"))
      .where("user_id", "=", userId)
      .where("version", "=", version)
      .executeTakeFirst();
    return Number(r?.n ?? 0);
  }

  /** The stored sessions among `keys` (room, session) pairs. */
  async sessionsFor(
    db: Kysely<CryptoTables>,
    userId: string,
    version: number,
    keys: { roomId: string; sessionId: string }[],
  ): Promise<BackedUpSession[]> {
    if (keys.length === 0) return [];
    const rows = await sql<Selectable<CryptoTables["megolm_inbound_sessions"]>>`
      SELECT * FROM megolm_inbound_sessions
      WHERE user_id = ${userId} AND version = ${version}
        AND (room_id, session_id) IN (
          SELECT * FROM unnest(${keys.map((k) => k.roomId)}::text[], ${keys.map((k) => k.sessionId)}::text[]))
      FOR UPDATE`.execute(db);
    return rows.rows.map(toSession);
  }

  async upsertSessions(
    db: Kysely<CryptoTables>,
    userId: string,
    version: number,
    sessions: BackedUpSession[],
  ): Promise<void> {
    if (sessions.length === 0) return;
    await db
      .insertInto("megolm_inbound_sessions")
      .values(
        sessions.map((s) => ({
          user_id: userId,
          version,
          room_id: s.roomId,
          session_id: s.sessionId,
          first_message_index: s.firstMessageIndex,
          forwarded_count: s.forwardedCount,
          is_verified: s.isVerified,
          session_data: JSON.stringify(s.sessionData),
        })),
      )
      .onConflict((oc) =>
        oc.columns(["user_id", "version", "room_id", "session_id"]).doUpdateSet((eb) => ({
          first_message_index: eb.ref("excluded.first_message_index"),
          forwarded_count: eb.ref("excluded.forwarded_count"),
          is_verified: eb.ref("excluded.is_verified"),
          session_data: eb.ref("excluded.session_data"),
        })),
      )
      .execute();
  }

  async list(
    userId: string,
    version: number,
    roomId?: string,
    sessionId?: string,
  ): Promise<BackedUpSession[]> {
    let q = this.db
      .selectFrom("megolm_inbound_sessions")
      .selectAll()
      .where("user_id", "=", userId)
      .where("version", "=", version);
    if (roomId !== undefined) q = q.where("room_id", "=", roomId);
    if (sessionId !== undefined) q = q.where("session_id", "=", sessionId);
    return (await q.execute()).map(toSession);
  }

  /** Deletes sessions (all, a room's, or one); returns how many went. */
  async deleteSessions(
    db: Kysely<CryptoTables>,
    userId: string,
    version: number,
    roomId?: string,
    sessionId?: string,
  ): Promise<number> {
    let q = db
      .deleteFrom("megolm_inbound_sessions")
      .where("user_id", "=", userId)
      .where("version", "=", version);
    if (roomId !== undefined) q = q.where("room_id", "=", roomId);
    if (sessionId !== undefined) q = q.where("session_id", "=", sessionId);
    const r = await q.executeTakeFirst();
    return Number(r.numDeletedRows);
  }
}

function toVersion(row: Selectable<CryptoTables["room_key_history"]>): BackupVersion {
  return {
    version: Number(row.version),
    algorithm: row.algorithm,
    authData: row.auth_data,
    etag: Number(row.etag),
    deleted: row.deleted,
  };
}

function toSession(row: Selectable<CryptoTables["megolm_inbound_sessions"]>): BackedUpSession {
  return {
    roomId: row.room_id,
    sessionId: row.session_id,
    firstMessageIndex: row.first_message_index,
    forwardedCount: row.forwarded_count,
    isVerified: row.is_verified,
    sessionData: row.session_data,
  };
}
