import { randomUUID } from "node:crypto";
import { type Kysely, sql, type Transaction } from "kysely";
import type { OutboxTables } from "./tables.ts";

export type NewEvent = {
  aggregateType: string;
  aggregateId: string;
  eventType: string;
  payload: unknown;
  /** correlation_id, trace_id… */
  metadata?: Record<string, unknown>;
};

/** The NOTIFY channel a service's outbox processor listens on. */
export function outboxChannel(schema: string): string {
  return `nova_outbox_${schema}`;
}

/**
 * Inserts events into the service's outbox inside the caller's transaction, and NOTIFYs the
 * processor (PostgreSQL delivers the notification at commit, so never for a rolled-back write).
 * Returns the event ids.
 */
export async function appendEvents<DB>(
  trx: Transaction<DB>,
  schema: string,
  events: NewEvent[],
): Promise<string[]> {
  if (events.length === 0) return [];
  const t = trx as unknown as Transaction<OutboxTables>;
  const ids = events.map(() => randomUUID());
  // Events written by one transaction share a correlation id unless the caller brings its own
  // (e.g. from the request that caused them).
  const correlationId = randomUUID();
  await t
    .insertInto("outbox_events")
    .values(
      events.map((e, i) => ({
        id: ids[i],
        aggregate_type: e.aggregateType,
        aggregate_id: e.aggregateId,
        event_type: e.eventType,
        payload: JSON.stringify(e.payload ?? null),
        metadata: JSON.stringify({ correlation_id: correlationId, ...e.metadata }) as unknown as Record<
          string,
          unknown
        >,
        published_at: null,
        last_error: null,
        next_attempt_at: null,
        dead_lettered_at: null,
      })),
    )
    .execute();
  await sql`SELECT pg_notify(${outboxChannel(schema)}, '')`.execute(t);
  return ids;
}

/**
 * Runs `fn` in one transaction with an `emit` that queues events; the events are inserted at the
 * end of the same transaction. Business rows and their events commit together or not at all.
 */
export async function withOutbox<DB, R>(
  db: Kysely<DB>,
  schema: string,
  fn: (trx: Transaction<DB>, emit: (event: NewEvent) => void) => Promise<R>,
): Promise<R> {
  return db.transaction().execute(async (trx) => {
    const queued: NewEvent[] = [];
    const result = await fn(trx, (e) => queued.push(e));
    await appendEvents(trx, schema, queued);
    return result;
  });
}
