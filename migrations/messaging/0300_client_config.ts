import { type Kysely, sql } from "kysely";

/**
 * Client config and ephemeral-but-persisted data of the homeserver: account data, sync filters,
 * user push rules (defaults live in code; only a user's changes are stored) and read receipts.
 * Every row that /sync must deliver carries the stream position it was written at.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`CREATE TABLE account_data (
    user_id TEXT NOT NULL,
    room_id TEXT NOT NULL DEFAULT '',
    type TEXT NOT NULL,
    content JSONB NOT NULL,
    stream_pos BIGINT NOT NULL,
    PRIMARY KEY (user_id, room_id, type)
  )`.execute(db);
  await sql`CREATE INDEX account_data_user_pos ON account_data (user_id, stream_pos)`.execute(db);

  await sql`CREATE TABLE user_filters (
    filter_id BIGSERIAL PRIMARY KEY,
    user_id TEXT NOT NULL,
    filter_json JSONB NOT NULL,
    canonical TEXT NOT NULL,
    created_at BIGINT NOT NULL
  )`.execute(db);
  await sql`CREATE UNIQUE INDEX user_filters_dedupe ON user_filters (user_id, md5(canonical))`.execute(db);

  await sql`CREATE TABLE push_rules (
    user_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    rule_id TEXT NOT NULL,
    priority BIGINT NOT NULL,
    conditions JSONB,
    pattern TEXT,
    actions JSONB NOT NULL,
    enabled BOOLEAN NOT NULL DEFAULT TRUE,
    PRIMARY KEY (user_id, kind, rule_id)
  )`.execute(db);
  await sql`CREATE TABLE push_rule_default_overrides (
    user_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    rule_id TEXT NOT NULL,
    enabled BOOLEAN,
    actions JSONB,
    PRIMARY KEY (user_id, kind, rule_id)
  )`.execute(db);

  await sql`CREATE TABLE receipts (
    room_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    receipt_type TEXT NOT NULL,
    thread_id TEXT NOT NULL DEFAULT '',
    event_id TEXT NOT NULL,
    ts BIGINT NOT NULL,
    stream_pos BIGINT NOT NULL,
    PRIMARY KEY (room_id, user_id, receipt_type, thread_id)
  )`.execute(db);
  await sql`CREATE INDEX receipts_room_pos ON receipts (room_id, stream_pos)`.execute(db);
}
