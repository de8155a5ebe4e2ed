import { type Kysely, sql } from "kysely";

/**
 * Each room's head: the stream position of its latest event. A write sets it with a
 * compare-and-swap in the same statement as its events, so two replicas writing one room never
 * both build on the same state: the loser sees the new head, reloads the room and tries again.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`ALTER TABLE conversations ADD COLUMN head_position bigint NOT NULL DEFAULT 0`.execute(db);
  await sql`UPDATE conversations c SET head_position = m.p
    FROM (SELECT room_id, max(stream_position) AS p FROM messages GROUP BY room_id) m
    WHERE m.room_id = c.room_id`.execute(db);
}
