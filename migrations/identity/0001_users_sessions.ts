import { type Kysely, sql } from "kysely";

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable("users")
    .addColumn("user_id", "text", (c) => c.primaryKey())
    .addColumn("localpart", "text", (c) => c.notNull().unique())
    .addColumn("password_hash", "text")
    .addColumn("displayname", "text")
    .addColumn("avatar_url", "text")
    .addColumn("is_admin", "boolean", (c) => c.notNull().defaultTo(false))
    .addColumn("is_guest", "boolean", (c) => c.notNull().defaultTo(false))
    .addColumn("deactivated", "boolean", (c) => c.notNull().defaultTo(false))
    .addColumn("created_at", "bigint", (c) => c.notNull())
    .execute();

  // One row per logged-in device; the access token is stored only as its SHA-256.
  await db.schema
    .createTable("sessions")
    .addColumn("id", "text", (c) => c.primaryKey())
    .addColumn("user_id", "text", (c) => c.notNull().references("users.user_id"))
    .addColumn("device_id", "text", (c) => c.notNull())
    .addColumn("token_hash", "text", (c) => c.notNull().unique())
    .addColumn("display_name", "text")
    .addColumn("created_at", "bigint", (c) => c.notNull())
    .addColumn("expires_at", "bigint")
    .addColumn("last_seen_at", "bigint")
    .addColumn("last_seen_ip", "text")
    .execute();
  await db.schema
    .createIndex("sessions_user_device")
    .on("sessions")
    .columns(["user_id", "device_id"])
    .unique()
    .execute();

  await db.schema
    .createTable("refresh_tokens")
    .addColumn("token_hash", "text", (c) => c.primaryKey())
    .addColumn("session_id", "text", (c) => c.notNull().references("sessions.id").onDelete("cascade"))
    .addColumn("created_at", "bigint", (c) => c.notNull())
    .addColumn("used_at", "bigint")
    .execute();

  await db.schema
    .createTable("auth_logs")
    .addColumn("id", "bigserial", (c) => c.primaryKey())
    .addColumn("user_id", "text")
    .addColumn("event", "text", (c) => c.notNull())
    .addColumn("success", "boolean", (c) => c.notNull())
    .addColumn("ip", "text")
    .addColumn("created_at", "bigint", (c) => c.notNull())
    .execute();
  await db.schema.createIndex("auth_logs_user").on("auth_logs").columns(["user_id", "created_at"]).execute();

  // Registration tokens (m.login.registration_token).
  await db.schema
    .createTable("invite_codes")
    .addColumn("code", "text", (c) => c.primaryKey())
    .addColumn("uses_allowed", "integer")
    .addColumn("pending", "integer", (c) => c.notNull().defaultTo(0))
    .addColumn("completed", "integer", (c) => c.notNull().defaultTo(0))
    .addColumn("expiry_time", "bigint")
    .addColumn("created_at", "bigint", (c) => c.notNull())
    .execute();

  // Server-side per-user settings that are not Matrix account data (e.g. the admin's overrides).
  await db.schema
    .createTable("user_settings")
    .addColumn("user_id", "text", (c) => c.notNull().references("users.user_id"))
    .addColumn("key", "text", (c) => c.notNull())
    .addColumn("value", "jsonb", (c) => c.notNull())
    .addPrimaryKeyConstraint("user_settings_pk", ["user_id", "key"])
    .execute();

  await sql`SELECT 1`.execute(db);
}
