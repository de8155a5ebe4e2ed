import {
  DummyDriver,
  Kysely,
  PostgresAdapter,
  PostgresIntrospector,
  PostgresQueryCompiler,
  sql,
} from "kysely";
import type { OutboxTables } from "./tables.ts";

/**
 * Builds `processed_events` statements, typed against OutboxTables, without a connection. A
 * consumer's transaction is typed for the consuming service's own tables (`Transaction<DB>`,
 * DB unknown here), so the statements are built here and run on that transaction with
 * `executeQuery`: the same SQL the service's own handle would compile (both are PostgreSQL).
 */
const outbox = new Kysely<OutboxTables>({
  dialect: {
    createAdapter: () => new PostgresAdapter(),
    createDriver: () => new DummyDriver(),
    createIntrospector: (db) => new PostgresIntrospector(db),
    createQueryCompiler: () => new PostgresQueryCompiler(),
  },
});

/** The event ids a consumer has applied, kept in the service's own schema. */
export const processedEvents = {
  /** Inserts the ids in `db` (the effect's transaction); returns those not seen before. */
  async record<DB>(db: Kysely<DB>, consumer: string, ids: string[]): Promise<Set<string>> {
    const unique = [...new Set(ids)];
    const r = await db.executeQuery(
      outbox
        .insertInto("processed_events")
        .values(unique.map((event_id) => ({ consumer, event_id })))
        .onConflict((oc) => oc.columns(["consumer", "event_id"]).doNothing())
        .returning("event_id"),
    );
    return new Set(r.rows.map((row) => row.event_id));
  },

  /** Deletes ids processed longer ago than the retention; returns how many went. */
  async prune<DB>(db: Kysely<DB>, retentionMs: number): Promise<number> {
    const r = await db.executeQuery(
      outbox
        .deleteFrom("processed_events")
        .where("processed_at", "<", sql<Date>`now() - make_interval(secs => ${retentionMs / 1000})`),
    );
    return Number(r.numAffectedRows ?? 0n);
  },
};
