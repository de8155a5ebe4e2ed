import { type Kysely, sql } from "kysely";

/**
 * The Matrix content repository on `uploads`: a row exists from `create` (MSC2246) on, so the
 * bytes' columns are empty until the upload arrives. Thumbnails and URL previews are media's own
 * tables beside the seed's (the seed names none for them; they hold derived bytes and caches).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`ALTER TABLE uploads
      ALTER COLUMN bytes DROP NOT NULL,
      ALTER COLUMN sha256 DROP NOT NULL,
      ALTER COLUMN storage_key DROP NOT NULL,
      ADD COLUMN upload_name text,
      ADD COLUMN sniffed_type text,
      ADD COLUMN authenticated boolean NOT NULL DEFAULT true,
      ADD COLUMN unused_expires_at bigint,
      ADD COLUMN uploaded_at bigint,
      ADD COLUMN quarantined boolean NOT NULL DEFAULT false,
      ADD COLUMN last_access_at bigint,
      ADD COLUMN width integer,
      ADD COLUMN height integer`.execute(db);
  await sql`CREATE INDEX uploads_user ON uploads (user_id, created_at)`.execute(db);
  await sql`CREATE INDEX uploads_sha256 ON uploads (sha256)`.execute(db);

  await db.schema
    .createTable("media_thumbnails")
    .addColumn("media_id", "text", (c) => c.notNull().references("uploads.id").onDelete("cascade"))
    .addColumn("width", "integer", (c) => c.notNull())
    .addColumn("height", "integer", (c) => c.notNull())
    .addColumn("method", "text", (c) => c.notNull())
    .addColumn("animated", "boolean", (c) => c.notNull())
    .addColumn("content_type", "text", (c) => c.notNull())
    .addColumn("bytes", "integer", (c) => c.notNull())
    .addColumn("storage_key", "text", (c) => c.notNull())
    .addColumn("created_at", "bigint", (c) => c.notNull())
    .addPrimaryKeyConstraint("media_thumbnails_pk", ["media_id", "width", "height", "method", "animated"])
    .execute();

  await db.schema
    .createTable("url_previews")
    .addColumn("url", "text", (c) => c.primaryKey())
    .addColumn("og", "jsonb", (c) => c.notNull())
    .addColumn("fetched_at", "bigint", (c) => c.notNull())
    .addColumn("expires_at", "bigint", (c) => c.notNull())
    .execute();
}
