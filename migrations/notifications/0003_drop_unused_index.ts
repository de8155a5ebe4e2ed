import { type Kysely, sql } from "kysely";

/**
 * `notifications_user` (user_id, created_at) served 0001's listing by time; lists page on `seq`
 * since 0002 (`notifications_user_seq`), so nothing reads it and every stored notification (one
 * per recipient of each room event) paid for it.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`DROP INDEX IF EXISTS notifications_user`.execute(db);
}
