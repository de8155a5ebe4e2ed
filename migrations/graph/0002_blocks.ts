import type { Kysely } from "kysely";

/**
 * Graph's copy of who ignores whom (messaging's `m.ignored_user_list`, learnt from its
 * account.ignored_users_changed events): follows are refused and lists filtered between the two.
 * Messaging stays the owner of the truth; this table is rebuilt from its events.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable("graph_blocks")
    .addColumn("user_id", "text", (c) => c.notNull())
    .addColumn("blocked_id", "text", (c) => c.notNull())
    .addColumn("created_at", "bigint", (c) => c.notNull())
    .addPrimaryKeyConstraint("graph_blocks_pk", ["user_id", "blocked_id"])
    .execute();
  // "Does anyone block X" is asked from X's side too (X tries to follow them).
  await db.schema.createIndex("graph_blocks_blocked").on("graph_blocks").columns(["blocked_id"]).execute();
  // The lists page on (created_at, the other user) newest first: one index per side, in that
  // order, so a page is one backward index range whatever the list's length (feed pages through
  // 100,000 followers). The primary key orders by followee, not by time.
  await db.schema
    .createIndex("follows_followers_page")
    .on("follows")
    .columns(["followee_id", "created_at", "follower_id"])
    .execute();
  await db.schema.dropIndex("follows_followee").execute();
  await db.schema
    .createIndex("follows_following_page")
    .on("follows")
    .columns(["follower_id", "created_at", "followee_id"])
    .execute();
}
