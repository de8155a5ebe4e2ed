import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { rm } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { type Generated, type Kysely, sql } from "kysely";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { EventConsumer, on } from "../../companion-services/platform/consumer.ts";
import { Databases, type ServiceDatabase } from "../../companion-services/platform/database.ts";
import { KafkaEventBus } from "../../companion-services/platform/event-bus/kafka.ts";
import {
  type DeliveredRecord,
  deadLetterTopic,
  type EventBus,
  HEADERS,
  type Subscription,
  topicFor,
} from "../../companion-services/platform/event-bus.ts";
import { OutboxProcessor } from "../../companion-services/platform/outbox/processor.ts";
import type { OutboxTables } from "../../companion-services/platform/outbox/tables.ts";
import { withOutbox } from "../../companion-services/platform/outbox/writer.ts";
import { metricValue } from "../helpers/metrics.ts";
import { freshPgDatabase, pgAdminUrl, silentLogger, waitFor } from "./helpers.ts";
import { freePort, spawnReady } from "./spawn.ts";

const brokers = process.env.KAFKA_BROKERS;
const run = pgAdminUrl && brokers ? describe : describe.skip;
if (!(pgAdminUrl && brokers)) console.log("kafka.test: skipped, needs DATABASE_URL and KAFKA_BROKERS (CI)");

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const exec = promisify(execFile);

type Effects = { effects: { id: Generated<number>; event_id: string; aggregate_id: string; n: number } };
type ConsumerDb = OutboxTables & Effects;

/** Producer (graph schema) and consumer (feed schema) on a fresh PostgreSQL database. */
async function setup() {
  const fresh = await freshPgDatabase(pgAdminUrl ?? "", "nova_k");
  const databases = await Databases.open(["graph", "feed"], {
    dataDir: "memory://",
    urls: { graph: fresh.url, feed: fresh.url },
    poolSize: 4,
  });
  const consumerDb = databases.get<ConsumerDb>("feed").db;
  await sql`CREATE TABLE effects (id bigserial PRIMARY KEY, event_id uuid NOT NULL, aggregate_id text NOT NULL, n int NOT NULL)`.execute(
    consumerDb,
  );
  return { fresh, databases, producer: databases.get<unknown>("graph"), consumerDb };
}

/** An idempotent consumer whose effect (an effects row, no unique key) would show duplicates. */
async function startCounting(bus: EventBus, db: Kysely<ConsumerDb>, topic: string) {
  const stats = { delivered: 0 };
  const consumer = new EventConsumer<ConsumerDb>({
    service: "feed",
    name: `kt-${randomBytes(3).toString("hex")}`,
    bus,
    db,
    logger: silentLogger,
    topics: [topic],
    retryBaseMs: 20,
    maxAttempts: 2,
    handlers: {
      "counter.incremented": on(z.object({ n: z.number().int() }), async (trx, p, e) => {
        await trx!
          .insertInto("effects")
          .values({ event_id: e.id, aggregate_id: e.aggregate_id, n: p.n })
          .execute();
      }),
    },
  });
  const sub = await bus.subscribe({
    group: consumer.group,
    topics: [topic],
    handle: async (records) => {
      stats.delivered += records.length;
      await consumer.handleBatch(records);
    },
  });
  return { consumer, sub, stats };
}

async function write(
  producer: ServiceDatabase<unknown>,
  aggregateType: string,
  aggregates: string[],
  n: number,
  payload?: unknown,
) {
  await withOutbox(producer.db, producer.schema, async (_trx, emit) => {
    for (const a of aggregates)
      emit({ aggregateType, aggregateId: a, eventType: "counter.incremented", payload: payload ?? { n } });
  });
}

async function count(db: Kysely<ConsumerDb>): Promise<number> {
  const r = await db
    .selectFrom("effects")
    .select((eb) => eb.fn.countAll<number>().as("n"))
    .executeTakeFirstOrThrow();
  return Number(r.n);
}

/** Every event applied once, and per aggregate in the order written. */
async function expectExactlyOnceInOrder(db: Kysely<ConsumerDb>, aggregates: string[], perAggregate: number) {
  const rows = await db.selectFrom("effects").selectAll().orderBy("id").execute();
  expect(rows.length).toBe(aggregates.length * perAggregate);
  expect(new Set(rows.map((r) => r.event_id)).size).toBe(rows.length);
  for (const a of aggregates) {
    expect(rows.filter((r) => r.aggregate_id === a).map((r) => r.n)).toEqual([...Array(perAggregate).keys()]);
  }
}

async function pending(producer: ServiceDatabase<unknown>): Promise<{ published: number; pending: number }> {
  const r = await sql<{ published: number; pending: number }>`SELECT
      count(*) FILTER (WHERE published_at IS NOT NULL)::int AS published,
      count(*) FILTER (WHERE published_at IS NULL)::int AS pending FROM outbox_events`.execute(producer.db);
  return r.rows[0];
}

run("outbox → Kafka guarantees (real PostgreSQL and Kafka)", () => {
  it("SIGKILL of the processor mid-publish of 10,000 events: all delivered, each applied once, in order", async () => {
    const { fresh, databases, producer, consumerDb } = await setup();
    const bus = new KafkaEventBus({
      brokers: (brokers ?? "").split(","),
      clientId: "kafka-test",
      logger: silentLogger,
    });
    const aggregateType = `k${randomBytes(4).toString("hex")}`;
    const aggregates = Array.from({ length: 100 }, (_, i) => `agg-${i}`);
    let counting: Awaited<ReturnType<typeof startCounting>> | undefined;
    const workerEnv = {
      WORKER_SERVICE: "graph",
      WORKER_DATABASE_URL: fresh.url,
      KAFKA_BROKERS: brokers ?? "",
      WORKER_BATCH: "500",
    };
    try {
      for (let n = 0; n < 100; n++) await write(producer, aggregateType, aggregates, n);
      counting = await startCounting(bus, consumerDb, topicFor(aggregateType));
      const first = await spawnReady(["test/platform/fixtures/outbox-worker.ts"], workerEnv);
      await waitFor(async () => (await pending(producer)).published >= 2_000, 30_000, "2,000 published");
      first.proc.kill("SIGKILL");
      await first.stop();
      const atKill = await pending(producer);
      expect(atKill.pending).toBeGreaterThan(0);

      const second = await spawnReady(["test/platform/fixtures/outbox-worker.ts"], workerEnv);
      try {
        await waitFor(async () => (await count(consumerDb)) >= 10_000, 60_000, "10,000 applied");
        await new Promise((r) => setTimeout(r, 500)); // any late duplicate would land now
        await expectExactlyOnceInOrder(consumerDb, aggregates, 100);
        expect(counting.stats.delivered).toBeGreaterThanOrEqual(10_000);
        expect((await pending(producer)).pending).toBe(0);
        console.log(
          `kafka.test: killed at ${atKill.published} published; ${counting.stats.delivered - 10_000} duplicate deliveries absorbed`,
        );
      } finally {
        await second.stop();
      }
    } finally {
      await counting?.sub.close();
      await bus.close();
      await databases.close();
      await fresh.drop();
    }
  }, 150_000);

  it("a poison event is dead-lettered without blocking the ones behind it; a bad payload too, with its reason", async () => {
    const { fresh, databases, producer, consumerDb } = await setup();
    const bus = new KafkaEventBus({
      brokers: (brokers ?? "").split(","),
      clientId: "kafka-test-poison",
      logger: silentLogger,
    });
    const aggregateType = `p${randomBytes(4).toString("hex")}`;
    const topic = topicFor(aggregateType);
    const dead: DeliveredRecord[] = [];
    let dlq: Subscription | undefined;
    let counting: Awaited<ReturnType<typeof startCounting>> | undefined;
    const processor = new OutboxProcessor({
      database: producer,
      bus,
      logger: silentLogger,
      maxAttempts: 2,
      retryBaseMs: 50,
      pollIntervalMs: 50,
    });
    try {
      await bus.ensureTopics([topic, deadLetterTopic(topic)]);
      dlq = await bus.subscribe({
        group: `dlq-${aggregateType}`,
        topics: [deadLetterTopic(topic)],
        handle: async (r) => void dead.push(...r),
      });
      counting = await startCounting(bus, consumerDb, topic);
      await write(producer, aggregateType, ["a", "b"], 0);
      // Larger than the broker's message.max.bytes (1 MB): Kafka rejects it, for good.
      await write(producer, aggregateType, ["a"], 1, { n: 1, blob: "x".repeat(1_200_000) });
      await write(producer, aggregateType, ["b"], 1, { n: "one" }); // fails the consumer's schema
      for (let n = 1; n < 5; n++) await write(producer, aggregateType, n === 1 ? ["c"] : ["a", "b", "c"], n);
      const before = {
        produced: await metricValue("nova_kafka_produced_messages_total", { topic }),
        rejected: await metricValue("nova_kafka_produce_errors_total", { permanent: "true" }),
      };
      await processor.start();
      await waitFor(() => dead.length >= 2, 30_000, "two dead letters");
      await waitFor(async () => (await count(consumerDb)) >= 11, 30_000, "the rest applied");
      // The bus's metrics saw it: 12 events reached the topic, the oversized one was refused for
      // good, and the consumer group handled the 12 (the one that failed its schema included).
      expect(await metricValue("nova_kafka_produced_messages_total", { topic })).toBeGreaterThanOrEqual(
        before.produced + 12,
      );
      expect(await metricValue("nova_kafka_produce_errors_total", { permanent: "true" })).toBeGreaterThan(
        before.rejected,
      );
      await waitFor(
        async () =>
          (await metricValue("nova_kafka_consumed_messages_total", {
            topic,
            group: counting!.consumer.group,
          })) >= 12,
        10_000,
        "the consumer group's 12 records counted",
      );
      const rows = await consumerDb.selectFrom("effects").selectAll().orderBy("id").execute();
      const byAgg = (a: string) => rows.filter((r) => r.aggregate_id === a).map((r) => r.n);
      expect(byAgg("a")).toEqual([0, 2, 3, 4]);
      expect(byAgg("b")).toEqual([0, 2, 3, 4]);
      expect(byAgg("c")).toEqual([1, 2, 3, 4]);
      const publishDead = dead.find((d) => d.headers[HEADERS.deadLetterStage] === "publish:graph");
      const consumeDead = dead.find((d) => d.headers[HEADERS.deadLetterStage]?.startsWith("consume:"));
      expect(publishDead?.headers[HEADERS.deadLetterReason]).toMatch(/MESSAGE_TOO_LARGE|too large/i);
      expect(publishDead?.key).toBe("a");
      expect(consumeDead?.headers[HEADERS.deadLetterReason]).toMatch(/payload failed validation: n:/);
      expect(JSON.parse(consumeDead?.value ?? "{}").payload).toEqual({ n: "one" });
    } finally {
      await processor.stop();
      await counting?.sub.close();
      await dlq?.close();
      await bus.close();
      await databases.close();
      await fresh.drop();
    }
  }, 90_000);

  describe("Kafka down for 10 s while writes go on", () => {
    // A private broker this test may stop (the shared one keeps serving the other tests), on
    // free ports and its own data folder so that concurrent runs never meet.
    const instance = {
      KAFKA_INSTANCE: `outage-${randomBytes(3).toString("hex")}`,
      KAFKA_PORT: "",
      KAFKA_CONTROLLER_PORT: "",
    };
    const kafkaSh = (cmd: string) =>
      exec("bash", [".ci/kafka.sh", cmd], {
        cwd: ROOT,
        env: { ...process.env, ...instance },
        timeout: 120_000,
      });
    beforeAll(async () => {
      instance.KAFKA_PORT = String(await freePort());
      instance.KAFKA_CONTROLLER_PORT = String(await freePort());
      await kafkaSh("start");
    }, 150_000);
    afterAll(async () => {
      await kafkaSh("stop");
      await rm(path.join(ROOT, ".kafka", instance.KAFKA_INSTANCE), { recursive: true, force: true });
    }, 60_000);

    it("the backlog drains after Kafka returns, nothing lost, order kept", async () => {
      const { fresh, databases, producer, consumerDb } = await setup();
      const bus = new KafkaEventBus({
        brokers: [`127.0.0.1:${instance.KAFKA_PORT}`],
        clientId: "kafka-outage",
        logger: silentLogger,
      });
      const aggregateType = `o${randomBytes(4).toString("hex")}`;
      const aggregates = ["a", "b", "c", "d", "e"];
      const processor = new OutboxProcessor({
        database: producer,
        bus,
        logger: silentLogger,
        pollIntervalMs: 100,
      });
      let counting: Awaited<ReturnType<typeof startCounting>> | undefined;
      let n = 0;
      try {
        counting = await startCounting(bus, consumerDb, topicFor(aggregateType));
        await processor.start();
        for (; n < 20; n++) await write(producer, aggregateType, aggregates, n);
        await waitFor(async () => (await count(consumerDb)) === 100, 30_000, "first 100");

        await kafkaSh("stop");
        const until = Date.now() + 10_000;
        while (Date.now() < until) {
          await write(producer, aggregateType, aggregates, n++);
          await new Promise((r) => setTimeout(r, 50));
        }
        const backlog = await pending(producer);
        expect(backlog.pending).toBeGreaterThan(0);
        await kafkaSh("start");

        await waitFor(
          async () => (await count(consumerDb)) >= n * aggregates.length,
          90_000,
          "backlog drained",
        );
        await new Promise((r) => setTimeout(r, 500));
        await expectExactlyOnceInOrder(consumerDb, aggregates, n);
        expect((await pending(producer)).pending).toBe(0);
        console.log(`kafka.test: ${backlog.pending} events written while Kafka was down, all delivered`);
      } finally {
        await processor.stop();
        await counting?.sub.close();
        await bus.close();
        await databases.close();
        await fresh.drop();
      }
    }, 150_000);
  });
});
