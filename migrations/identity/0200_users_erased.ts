import type { Kysely } from "kysely";

/**
 * Erased accounts (deactivated with `erase`): as Synapse's `erased_users`, rooms serve their
 * earlier events redacted to users who were not joined when they were sent.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .alterTable("users")
    .addColumn("erased", "boolean", (c) => c.notNull().defaultTo(false))
    .execute();
}
