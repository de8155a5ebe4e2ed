import { type Kysely, sql } from "kysely";

/**
 * The admin API's own tables (server/admin): the audit log of every admin API call, rooms an
 * admin blocked (nobody on this server may join them again), and each user's server notices room.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`CREATE TABLE admin_audit_log (
    id BIGSERIAL PRIMARY KEY,
    user_id TEXT NOT NULL,
    method TEXT NOT NULL,
    path TEXT NOT NULL,
    status INTEGER NOT NULL,
    ip TEXT,
    at BIGINT NOT NULL
  )`.execute(db);
  await sql`CREATE INDEX admin_audit_log_at ON admin_audit_log (at)`.execute(db);
  await sql`CREATE TABLE blocked_rooms (
    room_id TEXT PRIMARY KEY,
    blocked_by TEXT NOT NULL,
    blocked_at BIGINT NOT NULL
  )`.execute(db);
  await sql`CREATE TABLE server_notice_rooms (
    user_id TEXT PRIMARY KEY,
    room_id TEXT NOT NULL,
    created_at BIGINT NOT NULL
  )`.execute(db);
}
