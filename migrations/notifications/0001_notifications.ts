import type { Kysely } from "kysely";
import { createOutboxTables } from "../../companion-services/platform/outbox/schema.ts";

/** The notifications service: in-app notifications and push delivery, fed by other services' events. */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable("notifications")
    .addColumn("id", "uuid", (c) => c.primaryKey())
    .addColumn("user_id", "text", (c) => c.notNull())
    .addColumn("kind", "text", (c) => c.notNull())
    .addColumn("source_event_id", "uuid")
    .addColumn("body", "jsonb", (c) => c.notNull())
    .addColumn("read_at", "bigint")
    .addColumn("created_at", "bigint", (c) => c.notNull())
    .execute();
  await db.schema
    .createIndex("notifications_user")
    .on("notifications")
    .columns(["user_id", "created_at"])
    .execute();
  await db.schema
    .createTable("push_tokens")
    .addColumn("user_id", "text", (c) => c.notNull())
    .addColumn("device_id", "text", (c) => c.notNull())
    .addColumn("platform", "text", (c) => c.notNull())
    .addColumn("token", "text", (c) => c.notNull())
    .addColumn("created_at", "bigint", (c) => c.notNull())
    .addPrimaryKeyConstraint("push_tokens_pk", ["user_id", "device_id", "platform"])
    .execute();
  await db.schema
    .createTable("push_delivery_logs")
    .addColumn("id", "bigserial", (c) => c.primaryKey())
    .addColumn("notification_id", "uuid", (c) =>
      c.notNull().references("notifications.id").onDelete("cascade"),
    )
    .addColumn("attempt", "integer", (c) => c.notNull())
    .addColumn("status", "text", (c) => c.notNull())
    .addColumn("error", "text")
    .addColumn("created_at", "bigint", (c) => c.notNull())
    .execute();
  await db.schema
    .createTable("notification_preferences")
    .addColumn("user_id", "text", (c) => c.notNull())
    .addColumn("kind", "text", (c) => c.notNull())
    .addColumn("enabled", "boolean", (c) => c.notNull())
    .addPrimaryKeyConstraint("notification_preferences_pk", ["user_id", "kind"])
    .execute();
  // One row per (user, dedup key) inside the one-minute window; older rows are pruned.
  await db.schema
    .createTable("notification_dedup")
    .addColumn("user_id", "text", (c) => c.notNull())
    .addColumn("dedup_key", "text", (c) => c.notNull())
    .addColumn("created_at", "bigint", (c) => c.notNull())
    .addPrimaryKeyConstraint("notification_dedup_pk", ["user_id", "dedup_key"])
    .execute();
  await createOutboxTables(db);
}
