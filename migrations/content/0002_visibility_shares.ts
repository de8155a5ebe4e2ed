import { type Kysely, sql } from "kysely";

/**
 * What the content service needs beyond the seed's columns: who may see a post, its language,
 * shares as posts of their own (`shared_post_id`), when a post or comment was deleted (a deleted
 * row stays so its id keeps answering 404 and late events still find it), and the indexes its
 * pages read by.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .alterTable("posts")
    .addColumn("visibility", "text", (c) => c.notNull().defaultTo("public"))
    .execute();
  await db.schema.alterTable("posts").addColumn("language", "text").execute();
  await db.schema
    .alterTable("posts")
    .addColumn("shared_post_id", "uuid", (c) => c.references("posts.id").onDelete("set null"))
    .execute();
  await db.schema.alterTable("posts").addColumn("deleted_at", "bigint").execute();
  await db.schema.alterTable("comments").addColumn("deleted_at", "bigint").execute();

  // An author's published posts, newest first (GetUserPosts, GET /users/{userId}/posts).
  await db.schema.dropIndex("posts_author").execute();
  await sql`CREATE INDEX posts_author_page ON posts (author_id, status, created_at DESC, id DESC)`.execute(
    db,
  );
  await sql`CREATE INDEX comments_post_page ON comments (post_id, created_at, id)`.execute(db);
  await db.schema.dropIndex("comments_post").execute();
  // One share per user and post: sharing again answers the first share.
  await db.schema
    .createIndex("post_shares_user")
    .on("post_shares")
    .columns(["post_id", "user_id"])
    .unique()
    .execute();
  await sql`CREATE INDEX bookmarks_user_page ON bookmarks (user_id, created_at DESC, post_id DESC)`.execute(
    db,
  );
  await db.schema
    .createIndex("bookmark_collections_name")
    .on("bookmark_collections")
    .columns(["user_id", "name"])
    .unique()
    .execute();
}
