import { type Kysely, sql } from "kysely";

/**
 * Creates a service's `outbox_events` and `processed_events` in its own schema. Each service's
 * migrations call this once; the tables are the same everywhere, owned by each service.
 */
export async function createOutboxTables(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable("outbox_events")
    .addColumn("id", "uuid", (c) => c.primaryKey())
    .addColumn("seq", "bigserial", (c) => c.notNull().unique())
    .addColumn("aggregate_type", "varchar(255)", (c) => c.notNull())
    .addColumn("aggregate_id", "text", (c) => c.notNull())
    .addColumn("event_type", "varchar(255)", (c) => c.notNull())
    .addColumn("payload", "jsonb", (c) => c.notNull())
    .addColumn("metadata", "jsonb", (c) => c.notNull().defaultTo(sql`'{}'::jsonb`))
    .addColumn("created_at", "timestamptz", (c) => c.notNull().defaultTo(sql`clock_timestamp()`))
    .addColumn("published_at", "timestamptz")
    .addColumn("retry_count", "integer", (c) => c.notNull().defaultTo(0))
    .addColumn("last_error", "text")
    .addColumn("next_attempt_at", "timestamptz")
    .addColumn("dead_lettered_at", "timestamptz")
    .execute();
  // The processor's claim scans only unpublished rows, in publish order.
  await sql`CREATE INDEX outbox_events_pending ON outbox_events (seq) WHERE published_at IS NULL`.execute(db);
  await sql`CREATE INDEX outbox_events_backoff ON outbox_events (next_attempt_at)
    WHERE published_at IS NULL AND next_attempt_at IS NOT NULL`.execute(db);
  await sql`CREATE INDEX outbox_events_published ON outbox_events (published_at)
    WHERE published_at IS NOT NULL`.execute(db);

  await db.schema
    .createTable("processed_events")
    .addColumn("consumer", "text", (c) => c.notNull())
    .addColumn("event_id", "uuid", (c) => c.notNull())
    .addColumn("processed_at", "timestamptz", (c) => c.notNull().defaultTo(sql`now()`))
    .addPrimaryKeyConstraint("processed_events_pk", ["consumer", "event_id"])
    .execute();
  await db.schema.createIndex("processed_events_at").on("processed_events").column("processed_at").execute();
}
