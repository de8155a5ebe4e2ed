import type { Kysely } from "kysely";
import { createOutboxTables } from "../../companion-services/platform/outbox/schema.ts";

/**
 * The media service: uploads and video processing (the seed's deprecated Video service's tables
 * live here). Owners are Matrix user ids; bytes are in object storage, rows hold references.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable("upload_sessions")
    .addColumn("id", "uuid", (c) => c.primaryKey())
    .addColumn("user_id", "text", (c) => c.notNull())
    .addColumn("content_type", "text")
    .addColumn("total_bytes", "bigint")
    .addColumn("received_bytes", "bigint", (c) => c.notNull().defaultTo(0))
    .addColumn("created_at", "bigint", (c) => c.notNull())
    .addColumn("expires_at", "bigint", (c) => c.notNull())
    .execute();
  await db.schema
    .createTable("upload_chunks")
    .addColumn("session_id", "uuid", (c) => c.notNull().references("upload_sessions.id").onDelete("cascade"))
    .addColumn("part", "integer", (c) => c.notNull())
    .addColumn("bytes", "integer", (c) => c.notNull())
    .addColumn("sha256", "text", (c) => c.notNull())
    .addPrimaryKeyConstraint("upload_chunks_pk", ["session_id", "part"])
    .execute();
  await db.schema
    .createTable("uploads")
    .addColumn("id", "text", (c) => c.primaryKey())
    .addColumn("user_id", "text", (c) => c.notNull())
    .addColumn("content_type", "text")
    .addColumn("bytes", "bigint", (c) => c.notNull())
    .addColumn("sha256", "text", (c) => c.notNull())
    .addColumn("storage_key", "text", (c) => c.notNull())
    .addColumn("created_at", "bigint", (c) => c.notNull())
    .execute();

  await db.schema
    .createTable("videos")
    .addColumn("id", "uuid", (c) => c.primaryKey())
    .addColumn("upload_id", "text", (c) => c.notNull().references("uploads.id"))
    .addColumn("owner_id", "text", (c) => c.notNull())
    .addColumn("title", "text")
    .addColumn("duration_ms", "integer")
    .addColumn("codec", "text")
    .addColumn("created_at", "bigint", (c) => c.notNull())
    .execute();
  await db.schema
    .createTable("video_embeddings")
    .addColumn("video_id", "uuid", (c) => c.primaryKey().references("videos.id").onDelete("cascade"))
    .addColumn("model", "text", (c) => c.notNull())
    .addColumn("vector", "jsonb", (c) => c.notNull())
    .execute();
  await db.schema
    .createTable("video_pipeline_state")
    .addColumn("video_id", "uuid", (c) => c.primaryKey().references("videos.id").onDelete("cascade"))
    .addColumn("stage", "text", (c) => c.notNull())
    .addColumn("error", "text")
    .addColumn("updated_at", "bigint", (c) => c.notNull())
    .execute();
  await db.schema
    .createTable("video_engagement")
    .addColumn("video_id", "uuid", (c) => c.primaryKey().references("videos.id").onDelete("cascade"))
    .addColumn("views", "bigint", (c) => c.notNull().defaultTo(0))
    .addColumn("watch_ms", "bigint", (c) => c.notNull().defaultTo(0))
    .execute();

  await db.schema
    .createTable("reels")
    .addColumn("id", "uuid", (c) => c.primaryKey())
    .addColumn("video_id", "uuid", (c) => c.notNull().references("videos.id").onDelete("cascade"))
    .addColumn("owner_id", "text", (c) => c.notNull())
    .addColumn("caption", "text")
    .addColumn("created_at", "bigint", (c) => c.notNull())
    .execute();
  await db.schema
    .createTable("reel_transcode_jobs")
    .addColumn("id", "uuid", (c) => c.primaryKey())
    .addColumn("reel_id", "uuid", (c) => c.notNull().references("reels.id").onDelete("cascade"))
    .addColumn("profile", "text", (c) => c.notNull())
    .addColumn("status", "text", (c) => c.notNull())
    .addColumn("attempts", "integer", (c) => c.notNull().defaultTo(0))
    .addColumn("updated_at", "bigint", (c) => c.notNull())
    .execute();
  await db.schema
    .createTable("reel_variants")
    .addColumn("reel_id", "uuid", (c) => c.notNull().references("reels.id").onDelete("cascade"))
    .addColumn("profile", "text", (c) => c.notNull())
    .addColumn("storage_key", "text", (c) => c.notNull())
    .addColumn("width", "integer", (c) => c.notNull())
    .addColumn("height", "integer", (c) => c.notNull())
    .addColumn("bitrate", "integer", (c) => c.notNull())
    .addPrimaryKeyConstraint("reel_variants_pk", ["reel_id", "profile"])
    .execute();

  await createOutboxTables(db);
}
