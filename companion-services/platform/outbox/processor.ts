import type { PGlite } from "@electric-sql/pglite";
import { type Kysely, sql } from "kysely";
import pg from "pg";
import type { ServiceDatabase } from "../database.ts";
import {
  type BusRecord,
  deadLetterTopic,
  type EventBus,
  HEADERS,
  PublishError,
  topicFor,
} from "../event-bus.ts";
import type { Logger } from "../logger.ts";
import { DEFAULT_OUTBOX_BATCH } from "../platform-config.ts";
import { outboxMetrics } from "./outbox.metrics.ts";
import { type ClaimedEvent, OutboxRepository } from "./outbox.repository.ts";
import type { OutboxTables } from "./tables.ts";
import { outboxChannel } from "./writer.ts";

export type OutboxProcessorOptions = {
  database: ServiceDatabase<unknown>;
  bus: EventBus;
  logger: Logger;
  batchSize?: number;
  /** Fallback poll when no notification arrives (LISTEN lost, another process wrote). */
  pollIntervalMs?: number;
  /** Tries of an event the broker rejects before it goes to the dead-letter topic. */
  maxAttempts?: number;
  /** First retry delay of a rejected event; doubles per try. */
  retryBaseMs?: number;
  /** Published rows older than this are deleted. */
  retentionMs?: number;
  pruneIntervalMs?: number;
};

/** Dead letters carry the event; a payload this large is replaced by a note (it may be why it failed). */
const MAX_DEAD_LETTER_PAYLOAD = 256 * 1024;

/**
 * Publishes a service's outbox. One batch at a time per service (a transaction-scoped advisory
 * lock on PostgreSQL, so several replicas of a service take turns), rows claimed with
 * FOR UPDATE SKIP LOCKED and kept locked until they are marked published: per-aggregate order
 * holds, and a crash anywhere republishes rather than loses (at least once).
 */
export class OutboxProcessor {
  private readonly repo: OutboxRepository;
  private readonly db: Kysely<OutboxTables>;
  private readonly batchSize: number;
  private readonly pollIntervalMs: number;
  private readonly maxAttempts: number;
  private readonly retryBaseMs: number;
  private readonly retentionMs: number;
  private readonly pruneIntervalMs: number;
  private running = false;
  private loop: Promise<void> | null = null;
  private wakeUp: (() => void) | null = null;
  private pendingWake = false;
  private listener: pg.Client | null = null;
  private unlistenPglite: (() => void) | null = null;
  private lastPrune = 0;
  private transientBackoff = 0;
  /** Set when a batch stopped half-way because the broker became unreachable. */
  private outageSeen: unknown = null;
  private readonly topicsReady = new Set<string>();
  /** Events published since start (for tests; /metrics has them as nova_outbox_*_total). */
  published = 0;
  deadLettered = 0;
  private readonly labels: { service: string };

  constructor(private readonly options: OutboxProcessorOptions) {
    this.db = options.database.db as Kysely<OutboxTables>;
    this.repo = new OutboxRepository(this.db);
    this.batchSize = options.batchSize ?? DEFAULT_OUTBOX_BATCH;
    this.pollIntervalMs = options.pollIntervalMs ?? 1_000;
    this.maxAttempts = options.maxAttempts ?? 5;
    this.retryBaseMs = options.retryBaseMs ?? 500;
    this.retentionMs = options.retentionMs ?? 7 * 24 * 3600_000;
    this.pruneIntervalMs = options.pruneIntervalMs ?? 60_000;
    this.labels = { service: options.database.service };
  }

  async start(): Promise<void> {
    if (this.running) return;
    this.running = true;
    await this.listen();
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.running = false;
    this.wake();
    await this.loop;
    this.loop = null;
    this.unlistenPglite?.();
    this.unlistenPglite = null;
    const l = this.listener;
    this.listener = null;
    await l?.end().catch(() => {});
  }

  /** Asks the processor to look at the outbox now (writers in this process may call it). */
  wake(): void {
    this.pendingWake = true;
    this.wakeUp?.();
  }

  /** Publishes until the outbox is empty or a batch fails; returns how many were published. */
  async drain(): Promise<number> {
    let total = 0;
    for (;;) {
      const n = await this.processBatch();
      total += n.published;
      if (n.claimed < this.batchSize) return total;
    }
  }

  private async run(): Promise<void> {
    while (this.running) {
      let result = { claimed: 0, published: 0 };
      try {
        result = await this.processBatch();
        if (this.outageSeen) {
          const err = this.outageSeen;
          this.outageSeen = null;
          throw err;
        }
        this.transientBackoff = 0;
        if (Date.now() - this.lastPrune > this.pruneIntervalMs) {
          this.lastPrune = Date.now();
          const n = await this.repo.prune(this.retentionMs);
          if (n > 0) this.options.logger.debug({ pruned: n }, "outbox pruned");
        }
      } catch (err) {
        // The broker or the database is unreachable: what was not marked stays pending; back off.
        this.transientBackoff = Math.min(Math.max(this.transientBackoff * 2, 100), 5_000);
        this.options.logger.warn(
          { err: err instanceof Error ? err.message : String(err), retryInMs: this.transientBackoff },
          "outbox publish failed",
        );
        await this.sleep(this.transientBackoff, false);
        continue;
      }
      if (result.claimed >= this.batchSize) continue;
      await this.sleep(this.pollIntervalMs, true);
    }
  }

  private sleep(ms: number, wakeable: boolean): Promise<void> {
    if (wakeable && this.pendingWake) {
      this.pendingWake = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const t = setTimeout(done, ms);
      function done() {
        clearTimeout(t);
        resolve();
      }
      // A backoff (not wakeable) ignores notifications, which stay pending for the next sleep;
      // stop() always ends it.
      this.wakeUp = () => {
        if (wakeable || !this.running) {
          this.wakeUp = null;
          this.pendingWake = false;
          done();
        }
      };
    });
  }

  private async processBatch(): Promise<{ claimed: number; published: number }> {
    const database = this.options.database;
    if (database.kind === "pglite") {
      // One process, one processor: no lock needed, and holding the embedded connection during
      // publish would stall the in-process consumers that need it.
      return this.publishBatch(this.db, null);
    }
    return this.db.transaction().execute((trx) => this.publishBatch(trx, lockKey(database.schema)));
  }

  private async publishBatch(
    trx: Kysely<OutboxTables>,
    lock: number | null,
  ): Promise<{ claimed: number; published: number }> {
    const rows = await this.repo.claim(trx, this.batchSize, lock);
    outboxMetrics.lag.set(this.labels, lagSeconds(rows));
    if (rows.length === 0) return { claimed: 0, published: 0 };
    const records = rows.map(toRecord);
    await this.ensureTopics(records);
    // A large batch goes out in two chunks, and the first chunk's mark runs while the second is
    // being published. The second starts only once the first is acknowledged: order holds.
    const chunk = rows.length >= 400 ? Math.ceil(rows.length / 2) : rows.length;
    let published = 0;
    let marking: Promise<unknown> = Promise.resolve(null);
    const settle = async () => {
      const err = await marking;
      if (err) throw err;
    };
    for (let i = 0; i < rows.length; i += chunk) {
      const ids = rows.slice(i, i + chunk).map((r) => r.id);
      try {
        await this.options.bus.publish(records.slice(i, i + chunk));
      } catch (err) {
        await settle();
        if (err instanceof PublishError && err.permanent) {
          // The broker rejected something: publish the rest one by one to find which.
          const n = await this.isolate(trx, rows.slice(i), records.slice(i));
          return { claimed: rows.length, published: published + n };
        }
        if (published === 0) throw err;
        // The broker went away after the first chunk: commit its mark, then back off.
        this.outageSeen = err;
        return { claimed: rows.length, published };
      }
      await settle();
      marking = this.repo.markPublished(trx, ids).then(
        () => null,
        (e: unknown) => e ?? new Error("mark failed"),
      );
      published += ids.length;
      this.countPublished(ids.length);
    }
    await settle();
    return { claimed: rows.length, published };
  }

  private async isolate(
    trx: Kysely<OutboxTables>,
    rows: ClaimedEvent[],
    records: BusRecord[],
  ): Promise<number> {
    const blocked = new Set<string>();
    const done: string[] = [];
    for (let i = 0; i < rows.length; i++) {
      const row = rows[i];
      const agg = `${row.aggregate_type}\u0000${row.aggregate_id}`;
      if (blocked.has(agg)) continue; // an earlier event of this aggregate is waiting
      try {
        await this.options.bus.publish([records[i]]);
        done.push(row.id);
      } catch (err) {
        if (!(err instanceof PublishError && err.permanent)) {
          // The broker went away mid-way: commit what went out (so it is not resent) and what
          // was decided about the rejected ones, then back off like any outage.
          this.outageSeen = err;
          break;
        }
        const attempts = row.retry_count + 1;
        if (attempts >= this.maxAttempts) {
          try {
            await this.deadLetter(row, records[i], err.message);
          } catch (dlqErr) {
            this.outageSeen = dlqErr;
            break;
          }
          await this.repo.markDeadLettered(trx, row.id, err.message);
          this.deadLettered++;
          outboxMetrics.deadLettered.inc(this.labels);
        } else {
          const delay = this.retryBaseMs * 2 ** (attempts - 1);
          await this.repo.markFailed(trx, row.id, err.message, delay);
          outboxMetrics.retried.inc(this.labels);
          blocked.add(agg);
        }
        this.options.logger.warn(
          { eventId: row.id, eventType: row.event_type, attempts, error: err.message },
          attempts >= this.maxAttempts ? "outbox event dead-lettered" : "outbox event rejected; will retry",
        );
      }
    }
    await this.repo.markPublished(trx, done);
    this.countPublished(done.length);
    return done.length;
  }

  private countPublished(n: number): void {
    this.published += n;
    outboxMetrics.published.inc(this.labels, n);
  }

  private async deadLetter(row: ClaimedEvent, record: BusRecord, reason: string): Promise<void> {
    const topic = deadLetterTopic(record.topic);
    await this.ensureTopics([{ ...record, topic }]);
    const letter = (value: string): BusRecord => ({
      topic,
      key: record.key,
      value,
      headers: {
        ...record.headers,
        [HEADERS.deadLetterReason]: reason.slice(0, 1_000),
        [HEADERS.deadLetterStage]: `publish:${this.options.database.service}`,
        [HEADERS.originalTopic]: record.topic,
      },
    });
    const withoutPayload = () =>
      JSON.stringify({
        ...(JSON.parse(row.envelope) as Record<string, unknown>),
        payload: { omitted: true, bytes: record.value.length },
      });
    if (record.value.length > MAX_DEAD_LETTER_PAYLOAD) {
      await this.options.bus.publish([letter(withoutPayload())]);
      return;
    }
    try {
      await this.options.bus.publish([letter(record.value)]);
    } catch (err) {
      // The payload may be what the broker rejects: the dead letter then carries the envelope only.
      if (!(err instanceof PublishError && err.permanent)) throw err;
      await this.options.bus.publish([letter(withoutPayload())]);
    }
  }

  private async ensureTopics(records: BusRecord[]): Promise<void> {
    const missing = [...new Set(records.map((r) => r.topic))].filter((t) => !this.topicsReady.has(t));
    if (missing.length === 0) return;
    await this.options.bus.ensureTopics(missing);
    for (const t of missing) this.topicsReady.add(t);
  }

  private async listen(): Promise<void> {
    const database = this.options.database;
    const channel = outboxChannel(database.schema);
    if (database.kind === "pglite" && database.pglite) {
      const pglite: PGlite = database.pglite;
      await sql`LISTEN ${sql.id(channel)}`.execute(this.db);
      this.unlistenPglite = pglite.onNotification((ch) => {
        if (ch === channel) this.wake();
      });
      return;
    }
    if (database.url) await this.connectListener(database.url, channel);
  }

  /** A dedicated connection for LISTEN; reconnects in the background, polling covers the gap. */
  private async connectListener(url: string, channel: string): Promise<void> {
    const client = new pg.Client({ connectionString: url });
    client.on("notification", () => this.wake());
    client.on("error", () => {
      if (this.listener === client) this.listener = null;
      if (this.running) setTimeout(() => void this.connectListener(url, channel).catch(() => {}), 1_000);
    });
    try {
      await client.connect();
      await client.query(`LISTEN "${channel}"`);
      this.listener = client;
    } catch (err) {
      await client.end().catch(() => {});
      this.options.logger.warn({ err: String(err) }, "outbox LISTEN failed; polling");
      if (this.running) setTimeout(() => void this.connectListener(url, channel).catch(() => {}), 1_000);
    }
  }
}

/** Age in seconds of the oldest claimed event (0 when nothing was due). */
function lagSeconds(rows: ClaimedEvent[]): number {
  if (rows.length === 0) return 0;
  let oldest = rows[0].created_at;
  for (const r of rows) if (r.created_at < oldest) oldest = r.created_at;
  return Math.max(0, (Date.now() - oldest) / 1000);
}

/** A stable 32-bit advisory lock key per service schema. */
function lockKey(schema: string): number {
  let h = 0x811c9dc5;
  for (const ch of `nova-outbox:${schema}`) h = Math.imul(h ^ ch.charCodeAt(0), 0x01000193);
  return h | 0;
}

/** The bus record of a claimed event: keyed by aggregate, event id and type in headers. */
function toRecord(e: ClaimedEvent): BusRecord {
  return {
    topic: topicFor(e.aggregate_type),
    key: e.aggregate_id,
    value: e.envelope,
    headers: { [HEADERS.eventId]: e.id, [HEADERS.eventType]: e.event_type },
  };
}
