import { type Kysely, sql } from "kysely";

/** GET /rooms/{roomId}/timestamp_to_event looks a room's events up by origin_server_ts. */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`CREATE INDEX messages_room_ts ON messages (room_id, origin_server_ts, stream_position)`.execute(
    db,
  );
}
