import type { Kysely } from "kysely";
import { createOutboxTables } from "../../companion-services/platform/outbox/schema.ts";

/**
 * The content service: posts and what hangs off them. Authors are Matrix user ids and media are
 * mxc:// URIs or media-service ids: references by value, no foreign keys out of this service.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable("posts")
    .addColumn("id", "uuid", (c) => c.primaryKey())
    .addColumn("author_id", "text", (c) => c.notNull())
    .addColumn("title", "text")
    .addColumn("content", "text", (c) => c.notNull())
    .addColumn("status", "text", (c) => c.notNull().defaultTo("published"))
    .addColumn("created_at", "bigint", (c) => c.notNull())
    .addColumn("updated_at", "bigint", (c) => c.notNull())
    .execute();
  await db.schema.createIndex("posts_author").on("posts").columns(["author_id", "created_at"]).execute();

  await db.schema
    .createTable("post_metadata")
    .addColumn("post_id", "uuid", (c) => c.primaryKey().references("posts.id").onDelete("cascade"))
    .addColumn("like_count", "integer", (c) => c.notNull().defaultTo(0))
    .addColumn("comment_count", "integer", (c) => c.notNull().defaultTo(0))
    .addColumn("share_count", "integer", (c) => c.notNull().defaultTo(0))
    .execute();

  await db.schema
    .createTable("comments")
    .addColumn("id", "uuid", (c) => c.primaryKey())
    .addColumn("post_id", "uuid", (c) => c.notNull().references("posts.id").onDelete("cascade"))
    .addColumn("parent_id", "uuid", (c) => c.references("comments.id").onDelete("cascade"))
    .addColumn("author_id", "text", (c) => c.notNull())
    .addColumn("content", "text", (c) => c.notNull())
    .addColumn("created_at", "bigint", (c) => c.notNull())
    .execute();
  await db.schema.createIndex("comments_post").on("comments").columns(["post_id", "created_at"]).execute();

  for (const [table, column] of [
    ["post_images", "media_uri"],
    ["post_videos", "video_id"],
  ] as const) {
    await db.schema
      .createTable(table)
      .addColumn("post_id", "uuid", (c) => c.notNull().references("posts.id").onDelete("cascade"))
      .addColumn("position", "integer", (c) => c.notNull())
      .addColumn(column, "text", (c) => c.notNull())
      .addPrimaryKeyConstraint(`${table}_pk`, ["post_id", "position"])
      .execute();
  }

  await db.schema
    .createTable("post_shares")
    .addColumn("id", "uuid", (c) => c.primaryKey())
    .addColumn("post_id", "uuid", (c) => c.notNull().references("posts.id").onDelete("cascade"))
    .addColumn("user_id", "text", (c) => c.notNull())
    .addColumn("created_at", "bigint", (c) => c.notNull())
    .execute();

  await db.schema
    .createTable("likes")
    .addColumn("post_id", "uuid", (c) => c.notNull().references("posts.id").onDelete("cascade"))
    .addColumn("user_id", "text", (c) => c.notNull())
    .addColumn("created_at", "bigint", (c) => c.notNull())
    .addPrimaryKeyConstraint("likes_pk", ["post_id", "user_id"])
    .execute();

  await db.schema
    .createTable("bookmark_collections")
    .addColumn("id", "uuid", (c) => c.primaryKey())
    .addColumn("user_id", "text", (c) => c.notNull())
    .addColumn("name", "text", (c) => c.notNull())
    .addColumn("created_at", "bigint", (c) => c.notNull())
    .execute();

  await db.schema
    .createTable("bookmarks")
    .addColumn("user_id", "text", (c) => c.notNull())
    .addColumn("post_id", "uuid", (c) => c.notNull().references("posts.id").onDelete("cascade"))
    .addColumn("collection_id", "uuid", (c) => c.references("bookmark_collections.id").onDelete("set null"))
    .addColumn("created_at", "bigint", (c) => c.notNull())
    .addPrimaryKeyConstraint("bookmarks_pk", ["user_id", "post_id"])
    .execute();

  await createOutboxTables(db);
}
