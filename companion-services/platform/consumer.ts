import type { Kysely, Transaction } from "kysely";
import type { ZodType } from "zod";
import { type EventEnvelope, fromRecord } from "./envelope.ts";
import {
  type DeliveredRecord,
  deadLetterTopic,
  type EventBus,
  HEADERS,
  type Subscription,
} from "./event-bus.ts";
import type { Logger } from "./logger.ts";
import { processedEvents } from "./outbox/processed-events.repository.ts";

/** What a consumer does with one event type: its payload schema and its effect. */
export type EventHandler<DB, P> = {
  schema: ZodType<P>;
  /**
   * The effect, inside the transaction that records the event id as processed. Without a
   * database (effects on memory only, idempotent by nature) `trx` is null.
   */
  apply(trx: Transaction<DB> | null, payload: P, event: EventEnvelope): Promise<void>;
  /**
   * Optional: the effect of consecutive events of this type at once (one statement for many
   * rows). Same transaction and order guarantees as `apply`.
   */
  applyBatch?(trx: Transaction<DB> | null, items: { payload: P; event: EventEnvelope }[]): Promise<void>;
};

/** Builds a handler with the payload type inferred from its schema. */
export function on<DB, P>(schema: ZodType<P>, apply: EventHandler<DB, P>["apply"]): EventHandler<DB, P> {
  return { schema, apply };
}

export type EventConsumerOptions<DB> = {
  /** Service that owns the consumer: its consumer group is `<service>.<name>`. */
  service: string;
  name: string;
  bus: EventBus;
  topics: string[];
  /** Handlers by event type (payload types differ; `apply` is checked against its own schema). */
  handlers: Record<string, EventHandler<DB, unknown>>;
  /** The service's own database, holding its `processed_events`. */
  db?: Kysely<DB>;
  logger: Logger;
  /** Tries of a failing effect before the event is dead-lettered. */
  maxAttempts?: number;
  retryBaseMs?: number;
  from?: "earliest" | "latest";
  /**
   * Called once a batch's effects have committed with at least one event applied: a consumer
   * whose effects leave work for someone else (queued deliveries) wakes that someone here.
   */
  onApplied?: () => void;
};

type Parsed = { record: DeliveredRecord; envelope: EventEnvelope; payload: unknown };

/**
 * An idempotent consumer. Per batch: envelopes and payloads are validated (a failure goes to the
 * dead-letter topic with the reason, never blocking the rest), then in ONE transaction the event
 * ids are inserted into `processed_events` and the effects of the new ones applied — so each
 * event is applied exactly once however often it is delivered. An effect that throws is retried
 * alone with backoff and dead-lettered after `maxAttempts`.
 */
export class EventConsumer<DB> {
  private subscription: Subscription | null = null;
  private readonly maxAttempts: number;
  private readonly retryBaseMs: number;
  readonly group: string;
  applied = 0;
  deadLettered = 0;

  constructor(private readonly options: EventConsumerOptions<DB>) {
    this.maxAttempts = options.maxAttempts ?? 3;
    this.retryBaseMs = options.retryBaseMs ?? 100;
    this.group = `${options.service}.${options.name}`;
  }

  async start(): Promise<void> {
    this.subscription = await this.options.bus.subscribe({
      group: this.group,
      topics: this.options.topics,
      from: this.options.from,
      handle: (records) => this.handleBatch(records),
    });
  }

  async stop(): Promise<void> {
    await this.subscription?.close();
    this.subscription = null;
  }

  /** Handles one ordered batch; rejects only when the database cannot be reached. */
  async handleBatch(records: DeliveredRecord[]): Promise<void> {
    const parsed: Parsed[] = [];
    for (const record of records) {
      const decoded = fromRecord(record.value);
      if (!decoded.ok) {
        await this.deadLetter(record, decoded.reason);
        continue;
      }
      const handler = this.options.handlers[decoded.envelope.event_type];
      if (!handler) continue; // an event type this consumer does not react to
      const payload = handler.schema.safeParse(decoded.envelope.payload);
      if (!payload.success) {
        const issue = payload.error.issues[0];
        const where = issue?.path.length ? `${issue.path.join(".")}: ` : "";
        await this.deadLetter(record, `payload failed validation: ${where}${issue?.message ?? "invalid"}`);
        continue;
      }
      parsed.push({ record, envelope: decoded.envelope, payload: payload.data });
    }
    if (parsed.length === 0) return;
    try {
      await this.applyAll(parsed);
    } catch (err) {
      if (isInfrastructureError(err)) throw err;
      // Something in the batch fails: apply one by one so only the culprit is retried.
      for (const p of parsed) await this.applyOneWithRetries(p);
    }
  }

  private async applyAll(items: Parsed[]): Promise<void> {
    const db = this.options.db;
    if (!db) {
      await this.applyInOrder(null, items);
      this.applied += items.length;
      this.options.onApplied?.();
      return;
    }
    const appliedNow = await db.transaction().execute(async (trx) => {
      const fresh = await processedEvents.record(
        trx,
        this.group,
        items.map((p) => p.envelope.id),
      );
      await this.applyInOrder(
        trx,
        items.filter((p) => fresh.has(p.envelope.id)),
      );
      this.applied += fresh.size;
      return fresh.size;
    });
    if (appliedNow > 0) this.options.onApplied?.();
  }

  /** Applies items in order; consecutive items of a type with applyBatch go in one call. */
  private async applyInOrder(trx: Transaction<DB> | null, items: Parsed[]): Promise<void> {
    for (let i = 0; i < items.length; ) {
      const handler = this.handler(items[i]);
      let j = i + 1;
      if (handler.applyBatch) {
        while (j < items.length && items[j].envelope.event_type === items[i].envelope.event_type) j++;
        await handler.applyBatch(
          trx,
          items.slice(i, j).map((p) => ({ payload: p.payload, event: p.envelope })),
        );
      } else {
        await handler.apply(trx, items[i].payload, items[i].envelope);
      }
      i = j;
    }
  }

  private async applyOneWithRetries(p: Parsed): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await this.applyAll([p]);
        return;
      } catch (err) {
        if (isInfrastructureError(err)) throw err;
        if (attempt >= this.maxAttempts) {
          await this.deadLetter(p.record, `handler failed ${attempt} times: ${errorMessage(err)}`);
          return;
        }
        await new Promise((r) => setTimeout(r, this.retryBaseMs * 2 ** (attempt - 1)));
      }
    }
  }

  private handler(p: Parsed): EventHandler<DB, unknown> {
    return this.options.handlers[p.envelope.event_type];
  }

  private async deadLetter(record: DeliveredRecord, reason: string): Promise<void> {
    this.deadLettered++;
    this.options.logger.warn({ group: this.group, topic: record.topic, reason }, "event dead-lettered");
    const topic = deadLetterTopic(record.topic);
    await this.options.bus.ensureTopics([topic]);
    await this.options.bus.publish([
      {
        topic,
        key: record.key,
        value: record.value,
        headers: {
          ...record.headers,
          [HEADERS.deadLetterReason]: reason.slice(0, 1_000),
          [HEADERS.deadLetterStage]: `consume:${this.group}`,
          [HEADERS.originalTopic]: record.topic,
        },
      },
    ]);
  }
}

/** Deletes processed ids older than the retention (longer than any redelivery window). */
export function pruneProcessedEvents<DB>(db: Kysely<DB>, retentionMs: number): Promise<number> {
  return processedEvents.prune(db, retentionMs);
}

/** Connection-level failures: the batch is redelivered later instead of dead-lettered. */
export function isInfrastructureError(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  const code = (err as Error & { code?: unknown }).code;
  if (typeof code === "string" && (code.startsWith("08") || code.startsWith("57P") || code === "53300"))
    return true;
  return /ECONNREFUSED|ECONNRESET|Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error/i.test(
    err.message,
  );
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
