import { type Kysely, sql } from "kysely";
import { createOutboxTables } from "../../companion-services/platform/outbox/schema.ts";

/**
 * The graph service (the seed's "User Service" / graph-service): who follows whom and the counts
 * derived from it. Users are referenced by Matrix user id, never by a foreign key into identity.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable("follows")
    .addColumn("follower_id", "text", (c) => c.notNull())
    .addColumn("followee_id", "text", (c) => c.notNull())
    .addColumn("created_at", "bigint", (c) => c.notNull())
    .addPrimaryKeyConstraint("follows_pk", ["follower_id", "followee_id"])
    .addCheckConstraint("follows_not_self", sql`follower_id <> followee_id`)
    .execute();
  await db.schema
    .createIndex("follows_followee")
    .on("follows")
    .columns(["followee_id", "created_at"])
    .execute();

  // One row per known user, created when identity's user.registered event arrives.
  await db.schema
    .createTable("social_metadata")
    .addColumn("user_id", "text", (c) => c.primaryKey())
    .addColumn("follower_count", "integer", (c) => c.notNull().defaultTo(0))
    .addColumn("following_count", "integer", (c) => c.notNull().defaultTo(0))
    .addColumn("created_at", "bigint", (c) => c.notNull())
    .execute();

  await createOutboxTables(db);
}
