import { type Kysely, sql } from "kysely";

/**
 * Resumable (tus) uploads on `upload_sessions` (0001 created it): the tus `Upload-Metadata`
 * as the client sent it (HEAD returns it verbatim), the file name taken from it, and once the
 * last byte has arrived the media id the assembled upload was stored under. The sweep finds
 * expired sessions by `expires_at`; a user's sessions are looked up by `user_id`.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`ALTER TABLE upload_sessions
      ADD COLUMN upload_name text,
      ADD COLUMN metadata text,
      ADD COLUMN media_id text,
      ADD COLUMN completed_at bigint`.execute(db);
  await sql`CREATE INDEX upload_sessions_expires ON upload_sessions (expires_at)`.execute(db);
  await sql`CREATE INDEX upload_sessions_user ON upload_sessions (user_id, created_at)`.execute(db);
}
