import type { Kysely } from "kysely";
import { createOutboxTables } from "../../companion-services/platform/outbox/schema.ts";

/** The feed service is computed from other services' data; it owns only each user's settings. */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable("user_feed_preferences")
    .addColumn("user_id", "text", (c) => c.primaryKey())
    .addColumn("ranking", "text", (c) => c.notNull().defaultTo("chronological"))
    .addColumn("muted_user_ids", "jsonb", (c) => c.notNull().defaultTo("[]"))
    .addColumn("updated_at", "bigint", (c) => c.notNull())
    .execute();
  await createOutboxTables(db);
}
