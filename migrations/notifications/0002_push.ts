import { type Kysely, sql } from "kysely";

/**
 * The notifications service's working shape (0001 reserved the seed's tables; nothing wrote them).
 * - `push_tokens` becomes the Matrix pusher: keyed by (app_id, pushkey, user_id) as the spec says,
 *   tied to the device whose access token set it (removed when that device goes).
 * - `notifications` gains what `/notifications` and the badge need: the room event it is for, its
 *   push actions, and `seq` for cursor pagination.
 * - `push_queue` (Nova's): one row per (notification or badge update, pusher) still to deliver,
 *   claimed with SKIP LOCKED and a lease so a killed process's work is picked up after restart.
 * - `push_delivery_logs`: one row per attempt, for badge-only updates too (no notification).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`DROP TABLE push_tokens`.execute(db);
  await db.schema
    .createTable("push_tokens")
    .addColumn("user_id", "text", (c) => c.notNull())
    .addColumn("app_id", "text", (c) => c.notNull())
    .addColumn("pushkey", "text", (c) => c.notNull())
    .addColumn("kind", "text", (c) => c.notNull())
    .addColumn("device_id", "text")
    .addColumn("app_display_name", "text", (c) => c.notNull())
    .addColumn("device_display_name", "text", (c) => c.notNull())
    .addColumn("profile_tag", "text")
    .addColumn("lang", "text", (c) => c.notNull())
    .addColumn("data", "jsonb", (c) => c.notNull())
    .addColumn("created_at", "bigint", (c) => c.notNull())
    .addColumn("failing_since", "bigint")
    .addPrimaryKeyConstraint("push_tokens_pk", ["app_id", "pushkey", "user_id"])
    .execute();
  await sql`CREATE INDEX push_tokens_user ON push_tokens (user_id, device_id)`.execute(db);

  await sql`ALTER TABLE notifications
      ADD COLUMN seq bigserial,
      ADD COLUMN room_id text,
      ADD COLUMN event_id text,
      ADD COLUMN stream_position bigint,
      ADD COLUMN highlight boolean NOT NULL DEFAULT false,
      ADD COLUMN actions jsonb`.execute(db);
  await sql`CREATE UNIQUE INDEX notifications_seq ON notifications (seq)`.execute(db);
  await sql`CREATE INDEX notifications_user_seq ON notifications (user_id, seq)`.execute(db);
  // Badges and receipts look at one user's unread notifications, per room.
  await sql`CREATE INDEX notifications_unread ON notifications (user_id, room_id, stream_position)
    WHERE read_at IS NULL`.execute(db);
  await sql`CREATE UNIQUE INDEX notifications_user_event ON notifications (user_id, event_id)
    WHERE event_id IS NOT NULL`.execute(db);

  await db.schema
    .createTable("push_queue")
    .addColumn("id", "bigserial", (c) => c.primaryKey())
    .addColumn("user_id", "text", (c) => c.notNull())
    .addColumn("app_id", "text", (c) => c.notNull())
    .addColumn("pushkey", "text", (c) => c.notNull())
    .addColumn("notification_id", "uuid", (c) => c.references("notifications.id").onDelete("cascade"))
    .addColumn("badge_only", "boolean", (c) => c.notNull().defaultTo(false))
    .addColumn("attempt", "integer", (c) => c.notNull().defaultTo(0))
    .addColumn("next_attempt_at", "bigint", (c) => c.notNull())
    .addColumn("leased_until", "bigint")
    .addColumn("first_attempt_at", "bigint")
    .addColumn("created_at", "bigint", (c) => c.notNull())
    .execute();
  await sql`CREATE INDEX push_queue_due ON push_queue (next_attempt_at, id)`.execute(db);
  await sql`CREATE INDEX push_queue_pusher ON push_queue (app_id, pushkey, user_id, id)`.execute(db);

  await sql`ALTER TABLE push_delivery_logs
      ALTER COLUMN notification_id DROP NOT NULL,
      ADD COLUMN user_id text NOT NULL,
      ADD COLUMN app_id text NOT NULL,
      ADD COLUMN pushkey text NOT NULL,
      ADD COLUMN http_status integer,
      ADD COLUMN latency_ms integer`.execute(db);
  await sql`CREATE INDEX push_delivery_logs_notification ON push_delivery_logs (notification_id)`.execute(db);
  await sql`CREATE INDEX push_delivery_logs_created ON push_delivery_logs (created_at)`.execute(db);
  await sql`CREATE INDEX notification_dedup_created ON notification_dedup (created_at)`.execute(db);
}
