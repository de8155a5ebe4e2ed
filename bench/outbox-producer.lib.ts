/**
 * The producing side of bench/outbox.ts, as its own process (as a service is): writes events into
 * its outbox — each stamped with the wall-clock time just before its transaction commits — while
 * its outbox processor publishes them to Kafka. Env: BENCH_DATABASE_URL, KAFKA_BROKERS,
 * BENCH_AGGREGATE_TYPE, BENCH_TOTAL, BENCH_RATE (0 = as fast as possible), BENCH_WRITE_BATCH.
 */
import { Databases } from "../companion-services/platform/database.ts";
import { KafkaEventBus } from "../companion-services/platform/event-bus/kafka.ts";
import { createLogger } from "../companion-services/platform/logger.ts";
import { OutboxProcessor } from "../companion-services/platform/outbox/processor.ts";
import { appendEvents, type NewEvent } from "../companion-services/platform/outbox/writer.ts";

const env = process.env;
const total = Number(env.BENCH_TOTAL);
const rate = Number(env.BENCH_RATE ?? 0);
const writeBatch = Number(env.BENCH_WRITE_BATCH ?? 500);
const aggregateType = env.BENCH_AGGREGATE_TYPE ?? "bench";
const logger = createLogger("warn", "bench-producer");
const now = () => performance.timeOrigin + performance.now();

const databases = await Databases.open(["graph"], {
  dataDir: "memory://",
  urls: { graph: env.BENCH_DATABASE_URL },
  poolSize: 8,
});
const producer = databases.get<unknown>("graph");
const bus = new KafkaEventBus({
  brokers: (env.KAFKA_BROKERS ?? "").split(","),
  clientId: "bench-producer",
  logger,
});
const processor = new OutboxProcessor({
  database: producer,
  bus,
  logger,
  batchSize: Number(env.BENCH_OUTBOX_BATCH ?? 1_000),
  pollIntervalMs: 200,
});
await processor.start();
process.stdout.write(`${JSON.stringify({ ready: true })}\n`);
// Wait for the parent's go (its consumer group has joined).
await new Promise<void>((resolve) => process.once("SIGUSR2", () => resolve()));

async function write(n0: number, count: number) {
  const events: NewEvent[] = [];
  const t = now();
  for (let i = 0; i < count; i++) {
    const n = n0 + i;
    events.push({ aggregateType, aggregateId: `a${n % 100}`, eventType: "bench.event", payload: { n, t } });
  }
  await producer.db.transaction().execute((trx) => appendEvents(trx, producer.schema, events));
}

if (rate === 0) {
  let next = 0;
  await Promise.all(
    Array.from({ length: 4 }, async () => {
      while (next < total) {
        const n0 = next;
        next += writeBatch;
        await write(n0, Math.min(writeBatch, total - n0));
      }
    }),
  );
} else {
  const perTick = Math.max(1, Math.round(rate / 100));
  const start = performance.now();
  for (let n = 0; n < total; n += perTick) {
    const wait = start + (n / rate) * 1000 - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    await write(n, Math.min(perTick, total - n));
  }
}
process.stdout.write(`${JSON.stringify({ written: total })}\n`);
process.once("SIGTERM", async () => {
  await processor.stop();
  await bus.close();
  await databases.close();
  process.exit(0);
});
