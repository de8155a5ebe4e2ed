import type { Kysely } from "kysely";

/**
 * Shadow bans (Synapse's `users.shadow_banned`, set by the admin API): the user's sends and
 * invites answer as if they succeeded but are never stored, so nobody else sees them.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .alterTable("users")
    .addColumn("shadow_banned", "boolean", (c) => c.notNull().defaultTo(false))
    .execute();
}
