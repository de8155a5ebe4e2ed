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
  // Whom a user follows, newest first (the primary key orders by followee, not by time).
  await db.schema
    .createIndex("follows_follower")
    .on("follows")
    .columns(["follower_id", "created_at"])
    .execute();
}
