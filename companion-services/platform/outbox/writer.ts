import { randomUUID } from "node:crypto";
import { type Kysely, sql, type Transaction } from "kysely";

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
  const ids = events.map(() => randomUUID());
  // Events written by one transaction share a correlation id unless the caller brings its own
  // (e.g. from the request that caused them).
  const correlationId = randomUUID();
  // One statement, one round trip, six array parameters however many events: the rows come from
  // unnest(), and the NOTIFY rides along (a data-modifying CTE always runs to completion).
  await sql`WITH inserted AS (
      INSERT INTO outbox_events (id, aggregate_type, aggregate_id, event_type, payload, metadata)
      SELECT * FROM unnest(
        ${ids}::uuid[], ${events.map((e) => e.aggregateType)}::text[], ${events.map((e) => e.aggregateId)}::text[],
        ${events.map((e) => e.eventType)}::text[], ${events.map((e) => JSON.stringify(e.payload ?? null))}::jsonb[],
        ${events.map((e) => JSON.stringify({ correlation_id: correlationId, ...e.metadata }))}::jsonb[])
      RETURNING 1)
    SELECT pg_notify(${outboxChannel(schema)}, '')`.execute(trx);
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
