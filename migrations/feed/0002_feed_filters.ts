import type { Kysely } from "kysely";

/** What the feed honours besides muted authors: hiding shares, and the languages a reader reads. */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .alterTable("user_feed_preferences")
    .addColumn("hide_shares", "boolean", (c) => c.notNull().defaultTo(false))
    .execute();
  // Empty: every language. Otherwise BCP 47 tags; posts without a language always pass.
  await db.schema
    .alterTable("user_feed_preferences")
    .addColumn("languages", "jsonb", (c) => c.notNull().defaultTo("[]"))
    .execute();
}
