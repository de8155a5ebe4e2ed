import { type Kysely, sql } from "kysely";

/**
 * The video pipeline (issue #11): `reel_transcode_jobs` becomes a durable queue of per-video jobs
 * (claimed with FOR UPDATE SKIP LOCKED, retried with backoff, a visibility timeout in
 * `locked_until`), `reel_variants` holds a video's HLS renditions whether or not a reel shows it,
 * `videos` remembers its poster, and `video_views` makes view counting idempotent.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`ALTER TABLE videos ADD COLUMN poster_mxc text`.execute(db);

  await sql`ALTER TABLE reel_transcode_jobs
      ALTER COLUMN reel_id DROP NOT NULL,
      ADD COLUMN video_id uuid REFERENCES videos(id) ON DELETE CASCADE,
      ADD COLUMN run_after bigint NOT NULL DEFAULT 0,
      ADD COLUMN locked_until bigint,
      ADD COLUMN locked_by text,
      ADD COLUMN last_error text,
      ADD COLUMN created_at bigint NOT NULL DEFAULT 0`.execute(db);
  // Claiming reads due queued jobs by run_after, and running jobs whose lock expired.
  await sql`CREATE INDEX reel_transcode_jobs_due ON reel_transcode_jobs (run_after)
      WHERE status = 'queued'`.execute(db);
  await sql`CREATE INDEX reel_transcode_jobs_locked ON reel_transcode_jobs (locked_until)
      WHERE status = 'running'`.execute(db);
  await sql`CREATE INDEX reel_transcode_jobs_video ON reel_transcode_jobs (video_id)`.execute(db);

  await sql`ALTER TABLE reel_variants
      DROP CONSTRAINT reel_variants_pk,
      ALTER COLUMN reel_id DROP NOT NULL,
      ADD COLUMN video_id uuid NOT NULL REFERENCES videos(id) ON DELETE CASCADE`.execute(db);
  await sql`ALTER TABLE reel_variants ADD CONSTRAINT reel_variants_pk PRIMARY KEY (video_id, profile)`.execute(
    db,
  );

  await sql`CREATE INDEX reels_owner ON reels (owner_id, created_at DESC, id DESC)`.execute(db);
  await sql`CREATE INDEX reels_video ON reels (video_id)`.execute(db);
  await sql`CREATE INDEX videos_upload ON videos (upload_id)`.execute(db);

  await db.schema
    .createTable("video_views")
    .addColumn("view_id", "text", (c) => c.primaryKey())
    .addColumn("video_id", "uuid", (c) => c.notNull().references("videos.id").onDelete("cascade"))
    .addColumn("watch_ms", "bigint", (c) => c.notNull())
    .addColumn("created_at", "bigint", (c) => c.notNull())
    .execute();
  await sql`CREATE INDEX video_views_video ON video_views (video_id)`.execute(db);
}
