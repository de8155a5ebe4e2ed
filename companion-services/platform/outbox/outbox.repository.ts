import { type Kysely, type Selectable, sql } from "kysely";
import type { EventEnvelope } from "../envelope.ts";
import type { OutboxTables } from "./tables.ts";

export type OutboxRow = Selectable<OutboxTables["outbox_events"]>;
type Db = Kysely<OutboxTables>;

export type AggregateRef = { aggregateType: string; aggregateId: string };

export class OutboxRepository {
  constructor(private readonly db: Db) {}

  /**
   * The next unpublished events in publish order, locked for this transaction; rows another
   * processor holds are skipped. Aggregates waiting out a backoff are left out entirely so that a
   * later event never overtakes an earlier one of the same aggregate.
   */
  async claim(trx: Db, limit: number, blocked: AggregateRef[], lock: boolean): Promise<OutboxRow[]> {
    let q = trx
      .selectFrom("outbox_events")
      .selectAll()
      .where("published_at", "is", null)
      .where((eb) =>
        eb.or([eb("next_attempt_at", "is", null), eb("next_attempt_at", "<=", sql<Date>`now()`)]),
      );
    if (blocked.length > 0) {
      const pairs = sql.join(blocked.map((b) => sql`(${b.aggregateType}, ${b.aggregateId})`));
      q = q.where(sql<boolean>`(aggregate_type, aggregate_id) NOT IN (${pairs})`);
    }
    q = q.orderBy("seq").limit(limit);
    return lock ? q.forUpdate().skipLocked().execute() : q.execute();
  }

  /** Aggregates whose oldest pending event is backing off after a failed publish. */
  async backingOff(trx: Db): Promise<AggregateRef[]> {
    const rows = await trx
      .selectFrom("outbox_events")
      .select(["aggregate_type", "aggregate_id"])
      .where("published_at", "is", null)
      .where("next_attempt_at", ">", sql<Date>`now()`)
      .groupBy(["aggregate_type", "aggregate_id"])
      .limit(1_000)
      .execute();
    return rows.map((r) => ({ aggregateType: r.aggregate_type, aggregateId: r.aggregate_id }));
  }

  async markPublished(trx: Db, ids: string[]): Promise<void> {
    if (ids.length === 0) return;
    await trx
      .updateTable("outbox_events")
      .set({ published_at: sql<Date>`now()`, next_attempt_at: null })
      .where("id", "in", ids)
      .execute();
  }

  async markFailed(trx: Db, id: string, error: string, retryInMs: number): Promise<void> {
    await trx
      .updateTable("outbox_events")
      .set((eb) => ({
        retry_count: eb("retry_count", "+", 1),
        last_error: error.slice(0, 2_000),
        next_attempt_at: sql<Date>`now() + make_interval(secs => ${retryInMs / 1000})`,
      }))
      .where("id", "=", id)
      .execute();
  }

  async markDeadLettered(trx: Db, id: string, error: string): Promise<void> {
    await trx
      .updateTable("outbox_events")
      .set((eb) => ({
        retry_count: eb("retry_count", "+", 1),
        last_error: error.slice(0, 2_000),
        published_at: sql<Date>`now()`,
        dead_lettered_at: sql<Date>`now()`,
        next_attempt_at: null,
      }))
      .where("id", "=", id)
      .execute();
  }

  /** Deletes published rows older than the retention, a bounded number per call. */
  async prune(retentionMs: number, max = 10_000): Promise<number> {
    const r = await this.db
      .deleteFrom("outbox_events")
      .where(
        "id",
        "in",
        this.db
          .selectFrom("outbox_events")
          .select("id")
          .where("published_at", "is not", null)
          .where("published_at", "<", sql<Date>`now() - make_interval(secs => ${retentionMs / 1000})`)
          .limit(max),
      )
      .executeTakeFirst();
    return Number(r.numDeletedRows);
  }

  async pendingCount(): Promise<number> {
    const r = await this.db
      .selectFrom("outbox_events")
      .select((eb) => eb.fn.countAll<number>().as("n"))
      .where("published_at", "is", null)
      .executeTakeFirstOrThrow();
    return Number(r.n);
  }
}

export function toEnvelope(r: OutboxRow): EventEnvelope {
  return {
    id: r.id,
    aggregate_type: r.aggregate_type,
    aggregate_id: r.aggregate_id,
    event_type: r.event_type,
    payload: r.payload,
    metadata: r.metadata ?? {},
    created_at: new Date(r.created_at).getTime(),
  };
}
