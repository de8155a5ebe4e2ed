import { type Kysely, sql } from "kysely";

/**
 * Simplified sliding sync (MSC4186) connections: one row per (user, device, conn_id), and the
 * positions handed out on it. A position holds what the connection had been sent when it was
 * issued (per-room cursors and configs, as JSON), so a retried request with the same `pos` is
 * answered from the same base, and a restart resumes from it. Positions live per connection: the
 * one the client last used and those answered to it (`base_seq`); sequence numbers are random,
 * so two answers to one `pos` are two positions.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`CREATE TABLE sliding_sync_connections (
    user_id TEXT NOT NULL,
    device_id TEXT NOT NULL,
    conn_id TEXT NOT NULL,
    generation TEXT NOT NULL,
    created_ts BIGINT NOT NULL,
    last_used_ts BIGINT NOT NULL,
    PRIMARY KEY (user_id, device_id, conn_id)
  )`.execute(db);
  await sql`CREATE INDEX sliding_sync_connections_last_used ON sliding_sync_connections (last_used_ts)`.execute(
    db,
  );
  await sql`CREATE TABLE sliding_sync_positions (
    user_id TEXT NOT NULL,
    device_id TEXT NOT NULL,
    conn_id TEXT NOT NULL,
    generation TEXT NOT NULL,
    seq INTEGER NOT NULL,
    base_seq INTEGER,
    state TEXT NOT NULL,
    request_hash TEXT,
    response TEXT,
    created_ts BIGINT NOT NULL,
    PRIMARY KEY (user_id, device_id, conn_id, generation, seq)
  )`.execute(db);
}
