import { type Kysely, sql } from "kysely";

/**
 * Group calls on the SFU (seed tables call_sessions, call_participants). A session is one call
 * in one room from its first join until it empties; a participant row is one device's stay in it.
 * They are the call history and the recovery record (a restart ends sessions left open); live
 * media state lives in the SFU process, and what Matrix clients see is the room's MatrixRTC
 * membership state, so nothing here feeds /sync.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`CREATE TABLE call_sessions (
    call_id TEXT PRIMARY KEY,
    room_id TEXT NOT NULL,
    sfu TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    ended_at BIGINT
  )`.execute(db);
  // At most one open call per room.
  await sql`CREATE UNIQUE INDEX call_sessions_open_room ON call_sessions (room_id) WHERE ended_at IS NULL`.execute(
    db,
  );

  await sql`CREATE TABLE call_participants (
    call_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    device_id TEXT NOT NULL,
    joined_at BIGINT NOT NULL,
    left_at BIGINT,
    leave_reason TEXT,
    PRIMARY KEY (call_id, user_id, device_id, joined_at)
  )`.execute(db);
  await sql`CREATE INDEX call_participants_open ON call_participants (call_id) WHERE left_at IS NULL`.execute(
    db,
  );
}
