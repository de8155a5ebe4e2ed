import { type Kysely, sql } from "kysely";

/**
 * Content reports (spec "Reporting content": events, rooms — v1.13 —, users — v1.14) kept for
 * server admins, and OpenID tokens (spec "OpenID"): short-lived tokens a user hands a third party,
 * which exchanges them for the user's id at GET /_matrix/federation/v1/openid/userinfo.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`CREATE TABLE reports (
    id BIGSERIAL PRIMARY KEY,
    kind TEXT NOT NULL CHECK (kind IN ('event', 'room', 'user')),
    reporter TEXT NOT NULL,
    room_id TEXT,
    event_id TEXT,
    target_user_id TEXT,
    reason TEXT,
    score INTEGER,
    received_at BIGINT NOT NULL
  )`.execute(db);
  await sql`CREATE INDEX reports_received ON reports (received_at)`.execute(db);

  // Only a SHA-256 of the token is stored.
  await sql`CREATE TABLE openid_tokens (
    token_hash TEXT PRIMARY KEY,
    user_id TEXT NOT NULL,
    expires_at BIGINT NOT NULL
  )`.execute(db);
  await sql`CREATE INDEX openid_tokens_expiry ON openid_tokens (expires_at)`.execute(db);
}
