import { type Kysely, sql } from "kysely";

/**
 * Synapse's media admin API (companion-services/media/admin): who quarantined an upload, whether
 * it is protected from quarantine, and media's own audit log of admin calls (the homeserver's
 * admin_audit_log is messaging's table; media never writes another service's tables).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`ALTER TABLE uploads
      ADD COLUMN quarantined_by text,
      ADD COLUMN safe_from_quarantine boolean NOT NULL DEFAULT false`.execute(db);
  await sql`CREATE TABLE media_admin_audit_log (
    id BIGSERIAL PRIMARY KEY,
    user_id TEXT NOT NULL,
    method TEXT NOT NULL,
    path TEXT NOT NULL,
    status INTEGER NOT NULL,
    ip TEXT,
    at BIGINT NOT NULL
  )`.execute(db);
  await sql`CREATE INDEX media_admin_audit_log_at ON media_admin_audit_log (at)`.execute(db);
}
