/**
 * Issue #5's outbox benchmark, on real PostgreSQL and Kafka (DATABASE_URL, KAFKA_BROKERS):
 *   - throughput commit → consumed: a writer commits events (business transaction + outbox rows)
 *     as fast as it can while the processor publishes and an idempotent consumer applies them
 *     (processed_events + effect in one transaction);
 *   - lag at a steady 1,000 events/s: consumer-commit time minus writer-commit time, p50/p99;
 * next to a ceiling measured in the same run: raw kafkajs produce → consume of the same number
 * of same-sized messages (throughput) and at the same pace (latency).
 * Usage: `tsx bench/outbox.ts [--events 50000] [--paced-seconds 10] [--rate 1000] [--outbox-batch 4000]`.
 */
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import path from "node:path";
import { parseArgs } from "node:util";
import { Kafka, logLevel } from "kafkajs";
import { type Generated, type Kysely, sql } from "kysely";
import pg from "pg";
import { z } from "zod";
import { EventConsumer, on } from "../companion-services/platform/consumer.ts";
import { Databases } from "../companion-services/platform/database.ts";
import { KafkaEventBus } from "../companion-services/platform/event-bus/kafka.ts";
import { topicFor } from "../companion-services/platform/event-bus.ts";
import { createLogger } from "../companion-services/platform/logger.ts";
import type { OutboxTables } from "../companion-services/platform/outbox/tables.ts";
import { writePlatformPart } from "./platform.lib.ts";
import { percentile } from "./report.ts";

const { values } = parseArgs({
  options: {
    events: { type: "string", default: "50000" },
    "paced-seconds": { type: "string", default: "10" },
    rate: { type: "string", default: "1000" },
    "outbox-batch": { type: "string", default: "4000" },
  },
});
const EVENTS = Number(values.events);
const PACED_SECONDS = Number(values["paced-seconds"]);
const RATE = Number(values.rate);
const OUTBOX_BATCH = Number(values["outbox-batch"]);
const AGGREGATES = 100;
const WRITE_BATCH = 500;

const adminUrl = process.env.DATABASE_URL;
const brokers = process.env.KAFKA_BROKERS?.split(",");
if (!adminUrl || !brokers) {
  console.log("bench/outbox: needs DATABASE_URL and KAFKA_BROKERS (source .ci/env.sh after .ci/backends.sh)");
  process.exit(0);
}
const logger = createLogger("warn", "bench-outbox");

type Db = OutboxTables & { effects: { id: Generated<number>; event_id: string; n: number } };

async function freshDatabase(): Promise<{ url: string; drop(): Promise<void> }> {
  const name = `nova_bench_outbox_${randomBytes(4).toString("hex")}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const u = new URL(adminUrl as string);
  u.pathname = `/${name}`;
  return {
    url: u.toString(),
    async drop() {
      const a = new pg.Client({ connectionString: adminUrl });
      await a.connect();
      await a.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await a.end();
    },
  };
}

type Run = { seconds: number; rate: number; lags: number[]; aggregateType: string };

const wallNow = () => performance.timeOrigin + performance.now();

/**
 * One outbox pipeline: a producer process (writer + outbox processor, as a service runs them) →
 * Kafka → this process's idempotent consumer. Lag = consumer commit − the writer's clock just
 * before its transaction committed (both wall clocks of this machine).
 */
async function outboxRun(
  dbUrl: string,
  consumerDb: Kysely<Db>,
  bus: KafkaEventBus,
  total: number,
  pace: number | null,
): Promise<Run> {
  const aggregateType = `bench${randomBytes(3).toString("hex")}`;
  const topic = topicFor(aggregateType);
  await bus.ensureTopics([topic]);
  const lags: number[] = [];
  let consumed = 0;
  let firstWritten = Number.POSITIVE_INFINITY;
  let lastConsumed = 0;
  const payload = z.object({ n: z.number(), t: z.number() });
  const consumer = new EventConsumer<Db>({
    service: "feed",
    name: aggregateType,
    bus,
    db: consumerDb,
    logger,
    topics: [topic],
    handlers: {
      "bench.event": {
        ...on(payload, async (trx, p, e) => {
          await trx!.insertInto("effects").values({ event_id: e.id, n: p.n }).execute();
        }),
        // The effect of a run of events as one INSERT, as a real projection would do it.
        applyBatch: async (trx, items) => {
          await trx!
            .insertInto("effects")
            .values(items.map((i) => ({ event_id: i.event.id, n: (i.payload as { n: number }).n })))
            .execute();
        },
      },
    },
  });
  const sub = await bus.subscribe({
    group: consumer.group,
    topics: [topic],
    handle: async (records) => {
      await consumer.handleBatch(records);
      const done = wallNow();
      for (const r of records) {
        const p = payload.safeParse((JSON.parse(r.value) as { payload: unknown }).payload);
        if (!p.success) continue;
        lags.push(done - p.data.t);
        if (p.data.t < firstWritten) firstWritten = p.data.t;
      }
      consumed += records.length;
      lastConsumed = done;
    },
  });
  const child = spawn(
    process.execPath,
    ["--import", "tsx", path.join(import.meta.dirname, "outbox-producer.lib.ts")],
    {
      env: {
        PATH: process.env.PATH ?? "",
        BENCH_DATABASE_URL: dbUrl,
        KAFKA_BROKERS: (brokers as string[]).join(","),
        BENCH_AGGREGATE_TYPE: aggregateType,
        BENCH_TOTAL: String(total),
        BENCH_RATE: String(pace ?? 0),
        BENCH_WRITE_BATCH: String(WRITE_BATCH),
        BENCH_OUTBOX_BATCH: String(OUTBOX_BATCH),
      },
      stdio: ["ignore", "pipe", "inherit"],
    },
  );
  const exited = new Promise((r) => child.once("exit", r));
  await new Promise<void>((resolve, reject) => {
    child.stdout?.on("data", (d: Buffer) => {
      if (d.toString().includes('{"ready"')) resolve();
    });
    child.once("exit", (code) => reject(new Error(`producer exited with ${code}`)));
  });
  // Let the consumer group settle before the clock starts.
  await new Promise((r) => setTimeout(r, 3_000));
  child.kill("SIGUSR2");
  const deadline = Date.now() + 180_000;
  while (consumed < total && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
  child.kill("SIGTERM");
  await exited;
  await sub.close();
  if (consumed < total) throw new Error(`only ${consumed}/${total} consumed`);
  const seconds = (lastConsumed - firstWritten) / 1000;
  return { seconds, rate: total / seconds, lags: lags.sort((a, b) => a - b), aggregateType };
}

/** The ceiling: kafkajs alone, produce → consume, same message size. */
async function rawKafka(total: number, pace: number | null, value: string): Promise<Run> {
  const kafka = new Kafka({
    clientId: "bench-raw",
    brokers: brokers as string[],
    logLevel: logLevel.NOTHING,
  });
  const topic = `nova.rawbench${randomBytes(3).toString("hex")}.events`;
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic, numPartitions: 8 }], waitForLeaders: true });
  await admin.disconnect();
  const producer = kafka.producer();
  await producer.connect();
  const consumer = kafka.consumer({ groupId: `${topic}-g`, maxWaitTimeInMs: 100 });
  await consumer.connect();
  await consumer.subscribe({ topics: [topic], fromBeginning: true });
  const sentAt = new Map<string, number>();
  const lags: number[] = [];
  let consumed = 0;
  let last = 0;
  await consumer.run({
    partitionsConsumedConcurrently: 4,
    eachBatch: async ({ batch }) => {
      const now = performance.now();
      for (const m of batch.messages) {
        const t = sentAt.get(m.key?.toString() ?? "");
        if (t !== undefined) lags.push(now - t);
      }
      consumed += batch.messages.length;
      last = now;
    },
  });
  await new Promise((r) => setTimeout(r, 3_000));
  const send = async (n0: number, count: number) => {
    const messages = Array.from({ length: count }, (_, i) => ({ key: `m${n0 + i}`, value }));
    const t0 = performance.now();
    await producer.sendBatch({ acks: -1, topicMessages: [{ topic, messages }] });
    for (const m of messages) sentAt.set(m.key, t0);
    return t0;
  };
  let first = 0;
  if (pace === null) {
    let next = 0;
    await Promise.all(
      Array.from({ length: 4 }, async () => {
        while (next < total) {
          const n0 = next;
          next += WRITE_BATCH;
          const t = await send(n0, Math.min(WRITE_BATCH, total - n0));
          if (!first) first = t;
        }
      }),
    );
  } else {
    const perTick = Math.max(1, Math.round(pace / 100));
    const start = performance.now();
    first = start;
    for (let n = 0; n < total; n += perTick) {
      const wait = start + (n / pace) * 1000 - performance.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      await send(n, Math.min(perTick, total - n));
    }
  }
  const deadline = Date.now() + 60_000;
  while (consumed < total && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
  await consumer.disconnect();
  await producer.disconnect();
  const seconds = (last - first) / 1000;
  return { seconds, rate: consumed / seconds, lags: lags.sort((a, b) => a - b), aggregateType: topic };
}

const fresh = await freshDatabase();
const databases = await Databases.open(["graph", "feed"], {
  dataDir: "memory://",
  urls: { graph: fresh.url, feed: fresh.url },
  poolSize: 8,
});
const bus = new KafkaEventBus({ brokers, clientId: "bench-outbox", logger });
try {
  const consumerDb = databases.get<Db>("feed").db;
  await sql`CREATE TABLE effects (id bigserial PRIMARY KEY, event_id uuid NOT NULL, n int NOT NULL)`.execute(
    consumerDb,
  );
  const producer = databases.get<unknown>("graph");
  const sample = JSON.stringify({
    id: "00000000-0000-0000-0000-000000000000",
    aggregate_type: "bench",
    aggregate_id: "a00",
    event_type: "bench.event",
    payload: { n: 12345 },
    metadata: {},
    created_at: Date.now(),
  });

  console.log(`outbox throughput: ${EVENTS} events…`);
  const fast = await outboxRun(fresh.url, consumerDb, bus, EVENTS, null);
  console.log(`  ${fast.rate.toFixed(0)} events/s (${fast.seconds.toFixed(2)} s)`);
  // The stages on the database clock: first write → last commit, first write → last published.
  const stages = await sql<{ written: number; published: number }>`SELECT
      extract(epoch FROM max(created_at) - min(created_at)) AS written,
      extract(epoch FROM max(published_at) - min(created_at)) AS published
    FROM outbox_events WHERE aggregate_type = ${fast.aggregateType}`.execute(producer.db);
  const writeRate = EVENTS / Number(stages.rows[0]?.written);
  const publishRate = EVENTS / Number(stages.rows[0]?.published);
  console.log(
    `  writers alone: ${writeRate.toFixed(0)} events/s; written → published: ${publishRate.toFixed(0)} events/s`,
  );
  console.log(`raw kafkajs throughput: ${EVENTS} messages…`);
  const rawFast = await rawKafka(EVENTS, null, sample);
  console.log(`  ${rawFast.rate.toFixed(0)} messages/s`);

  const pacedTotal = RATE * PACED_SECONDS;
  console.log(`outbox lag at ${RATE} events/s for ${PACED_SECONDS} s…`);
  const paced = await outboxRun(fresh.url, consumerDb, bus, pacedTotal, RATE);
  console.log(
    `  p50 ${percentile(paced.lags, 50).toFixed(1)} ms, p99 ${percentile(paced.lags, 99).toFixed(1)} ms`,
  );
  // Where the lag is spent: created → marked published, inside the processor (database clock).
  const split = await sql<{ p50: number; p99: number }>`SELECT
      percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM published_at - created_at)) * 1000 AS p50,
      percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM published_at - created_at)) * 1000 AS p99
    FROM outbox_events WHERE aggregate_type = ${paced.aggregateType ?? ""}`.execute(producer.db);
  const publishLag = { p50: Number(split.rows[0]?.p50), p99: Number(split.rows[0]?.p99) };
  console.log(
    `  of which created → published: p50 ${publishLag.p50.toFixed(1)} ms, p99 ${publishLag.p99.toFixed(1)} ms`,
  );
  console.log(`raw kafkajs lag at ${RATE} messages/s…`);
  const rawPaced = await rawKafka(pacedTotal, RATE, sample);
  console.log(
    `  p50 ${percentile(rawPaced.lags, 50).toFixed(1)} ms, p99 ${percentile(rawPaced.lags, 99).toFixed(1)} ms`,
  );

  const effects = await consumerDb
    .selectFrom("effects")
    .select((eb) => eb.fn.countAll<number>().as("n"))
    .executeTakeFirstOrThrow();
  const expected = EVENTS + pacedTotal;
  if (Number(effects.n) !== expected) throw new Error(`applied ${effects.n}, expected ${expected}`);

  const pct = (a: number, b: number) => `${((a / b) * 100).toFixed(0)} %`;
  const ms = (v: number) => `${v.toFixed(1)} ms`;
  writePlatformPart(
    "outbox",
    `### Outbox → Kafka → idempotent consumer (bench/outbox.ts)

Real PostgreSQL and a real single-node Kafka (KRaft, .ci/kafka.sh), all on this machine. A producer process (as a
service runs it: its writers and its outbox processor) commits outbox rows (${WRITE_BATCH} per transaction, ${AGGREGATES} aggregates, 4 writers); the processor claims batches of ${OUTBOX_BATCH}
with FOR UPDATE SKIP LOCKED and publishes keyed by aggregate (acks=all); the consumer, in another
process, records each event id in processed_events and applies its effect in one transaction. Every event was applied
exactly once (${expected} effect rows for the ${EVENTS} + ${pacedTotal} events of both runs). Ceiling: kafkajs alone, same message size, same run.

| measurement | outbox | ceiling: raw kafkajs produce → consume | outbox / ceiling | target |
|---|---|---|---|---|
| throughput, commit → consumed (${EVENTS} events) | **${fast.rate.toFixed(0)} events/s** | ${rawFast.rate.toFixed(0)} messages/s | ${pct(fast.rate, rawFast.rate)} | ≥ 10,000 events/s |
| of which: writers commit / processor publishes (same run) | ${writeRate.toFixed(0)} / ${publishRate.toFixed(0)} events/s | — | — | — |
| lag at ${RATE} events/s for ${PACED_SECONDS} s: p50 / p99 | **${ms(percentile(paced.lags, 50))} / ${ms(percentile(paced.lags, 99))}** | ${ms(percentile(rawPaced.lags, 50))} / ${ms(percentile(rawPaced.lags, 99))} | — | p99 < 100 ms |
| max lag at ${RATE} events/s | ${ms(paced.lags[paced.lags.length - 1] ?? 0)} | ${ms(rawPaced.lags[rawPaced.lags.length - 1] ?? 0)} | — | — |
`,
  );
} finally {
  await bus.close();
  await databases.close();
  await fresh.drop();
}
process.exit(0);
