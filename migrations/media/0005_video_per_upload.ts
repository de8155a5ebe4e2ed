import { type Kysely, sql } from "kysely";

/**
 * One video per upload and owner: an upload queued on its own (a video's bytes) and registered
 * again through `POST /_nova/v1/videos` must not be transcoded twice.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`CREATE UNIQUE INDEX videos_upload_owner ON videos (upload_id, owner_id)`.execute(db);
}
