import { type Kysely, sql } from "kysely";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { z } from "zod";
import { graphIdentityConsumer } from "../../companion-services/graph/consumers.ts";
import type { GraphTables } from "../../companion-services/graph/tables.ts";
import { identityEvent } from "../../companion-services/identity/events.ts";
import { EventConsumer, on } from "../../companion-services/platform/consumer.ts";
import type { ServiceDatabase } from "../../companion-services/platform/database.ts";
import { MemoryEventBus } from "../../companion-services/platform/event-bus/memory.ts";
import {
  type DeliveredRecord,
  deadLetterTopic,
  HEADERS,
  topicFor,
} from "../../companion-services/platform/event-bus.ts";
import { OutboxProcessor } from "../../companion-services/platform/outbox/processor.ts";
import { withOutbox } from "../../companion-services/platform/outbox/writer.ts";
import { openFresh, pgAdminUrl, silentLogger, waitFor } from "./helpers.ts";

type TestDb = GraphTables & { effects: { event_id: string; aggregate_id: string; n: number } };

describe(`outbox and idempotent consumers (${pgAdminUrl ? "PostgreSQL" : "PGlite"}, in-process bus)`, () => {
  let env: Awaited<ReturnType<typeof openFresh>>;
  let database: ServiceDatabase<TestDb>;
  let db: Kysely<TestDb>;
  let bus: MemoryEventBus;
  const stops: (() => Promise<void>)[] = [];

  beforeEach(async () => {
    env = await openFresh(["graph"]);
    database = env.databases.get<TestDb>("graph");
    db = database.db;
    // A test-only effect table with no unique key: a duplicate application would show as two rows.
    await sql`CREATE TABLE effects (event_id uuid NOT NULL, aggregate_id text NOT NULL, n int NOT NULL)`.execute(
      db,
    );
    bus = new MemoryEventBus({ maxRecordBytes: 64 * 1024 });
  });
  afterEach(async () => {
    for (const s of stops.splice(0).reverse()) await s();
    await bus.close();
    await env.close();
  });

  function processor(opts: Partial<ConstructorParameters<typeof OutboxProcessor>[0]> = {}) {
    const p = new OutboxProcessor({
      database: database as ServiceDatabase<unknown>,
      bus,
      logger: silentLogger,
      retryBaseMs: 50,
      ...opts,
    });
    stops.push(() => p.stop());
    return p;
  }

  function effectConsumer(name = "effects", fail?: (n: number) => boolean) {
    const c = new EventConsumer<TestDb>({
      service: "graph",
      name,
      bus,
      db,
      logger: silentLogger,
      topics: [topicFor("counter")],
      retryBaseMs: 10,
      handlers: {
        "counter.incremented": on(z.object({ n: z.number().int() }), async (trx, p, e) => {
          if (fail?.(p.n)) throw new Error(`cannot apply ${p.n}`);
          await trx!
            .insertInto("effects")
            .values({ event_id: e.id, aggregate_id: e.aggregate_id, n: p.n })
            .execute();
        }),
      },
    });
    stops.push(() => c.stop());
    return c;
  }

  async function writeCounters(
    aggregates: string[],
    perAggregate: number,
    payload?: (n: number, aggregate: string) => unknown,
  ) {
    for (let n = 0; n < perAggregate; n++) {
      await withOutbox(db, database.schema, async (_trx, emit) => {
        for (const a of aggregates)
          emit({
            aggregateType: "counter",
            aggregateId: a,
            eventType: "counter.incremented",
            payload: payload?.(n, a) ?? { n },
          });
      });
    }
  }

  async function deadLetters(topic: string): Promise<DeliveredRecord[]> {
    const got: DeliveredRecord[] = [];
    const sub = await bus.subscribe({
      group: `dlq-reader-${Math.random()}`,
      topics: [deadLetterTopic(topic)],
      handle: async (r) => void got.push(...r),
    });
    stops.push(() => sub.close());
    return got;
  }

  it("commits the business row and its event together, or neither", async () => {
    await withOutbox(db, database.schema, async (trx, emit) => {
      await trx
        .insertInto("follows")
        .values({ follower_id: "@a:x", followee_id: "@b:x", created_at: 1 })
        .execute();
      emit({
        aggregateType: "follow",
        aggregateId: "@a:x",
        eventType: "follow.created",
        payload: { to: "@b:x" },
      });
    });
    await expect(
      withOutbox(db, database.schema, async (trx, emit) => {
        await trx
          .insertInto("follows")
          .values({ follower_id: "@c:x", followee_id: "@d:x", created_at: 1 })
          .execute();
        emit({
          aggregateType: "follow",
          aggregateId: "@c:x",
          eventType: "follow.created",
          payload: { to: "@d:x" },
        });
        throw new Error("business rule failed");
      }),
    ).rejects.toThrow("business rule failed");
    const follows = await db.selectFrom("follows").select("follower_id").execute();
    const events = await db.selectFrom("outbox_events").selectAll().execute();
    expect(follows.map((f) => f.follower_id)).toEqual(["@a:x"]);
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({
      aggregate_type: "follow",
      aggregate_id: "@a:x",
      event_type: "follow.created",
      published_at: null,
      retry_count: 0,
    });
    expect(events[0].payload).toEqual({ to: "@b:x" });
    expect(events[0].metadata).toEqual({ correlation_id: expect.stringMatching(/^[0-9a-f-]{36}$/) });
    expect(events[0].created_at).toBeInstanceOf(Date);
  });

  it("publishes on NOTIFY (not the poll), applies each event exactly once, in per-aggregate order", async () => {
    const consumer = effectConsumer();
    await consumer.start();
    // A poll interval far beyond the test: only the notification can wake the processor.
    const p = processor({ pollIntervalMs: 60_000, batchSize: 50 });
    await p.start();
    await new Promise((r) => setTimeout(r, 100));
    await writeCounters(["a", "b", "c"], 40);
    await waitFor(
      async () => (await db.selectFrom("effects").select("n").execute()).length === 120,
      10_000,
      "120 effects",
    );
    // Redeliver everything (as Kafka does after a crash before committing offsets): nothing changes.
    // The processor marks a batch once the bus has delivered it, so the marks land just after.
    await waitFor(
      async () =>
        (await db.selectFrom("outbox_events").select("id").where("published_at", "is", null).execute())
          .length === 0,
      5_000,
      "all marked published",
    );
    const rows = await db.selectFrom("outbox_events").selectAll().orderBy("seq").execute();
    const records = rows.map((r) => ({
      topic: topicFor("counter"),
      key: r.aggregate_id,
      partition: 0,
      offset: String(r.seq),
      headers: {},
      value: JSON.stringify({
        id: r.id,
        aggregate_type: r.aggregate_type,
        aggregate_id: r.aggregate_id,
        event_type: r.event_type,
        payload: r.payload,
        metadata: {},
        created_at: 0,
      }),
    }));
    await consumer.handleBatch(records);
    await consumer.handleBatch(records.slice(10, 20));
    const effects = await db.selectFrom("effects").selectAll().execute();
    expect(effects).toHaveLength(120);
    for (const a of ["a", "b", "c"]) {
      const ns = effects.filter((e) => e.aggregate_id === a).map((e) => e.n);
      expect(ns).toEqual([...Array(40).keys()]);
    }
    expect(p.published).toBe(120);
  });

  it("a record the broker rejects backs off, is dead-lettered after bounded tries, and blocks only its own aggregate", async () => {
    const dlq = await deadLetters(topicFor("counter"));
    const consumer = effectConsumer();
    await consumer.start();
    const p = processor({ maxAttempts: 3, retryBaseMs: 30, pollIntervalMs: 20 });
    // poison: event n=1 of aggregate "p" is larger than the bus accepts.
    await writeCounters(["p", "q"], 3, (n, a) => ({
      n,
      pad: n === 1 && a === "p" ? "x".repeat(100_000) : "",
    }));
    await p.start();
    await waitFor(
      async () => (await db.selectFrom("effects").selectAll().execute()).length === 5,
      10_000,
      "5 effects",
    );
    const effects = await db.selectFrom("effects").selectAll().execute();
    expect(effects.filter((e) => e.aggregate_id === "q").map((e) => e.n)).toEqual([0, 1, 2]);
    // p's later event waited for the poison one to be settled, then went out after it.
    expect(effects.filter((e) => e.aggregate_id === "p").map((e) => e.n)).toEqual([0, 2]);
    // The mark commits with the processor's batch, just after the consumer saw the next event.
    const deadRows = () =>
      db.selectFrom("outbox_events").selectAll().where("dead_lettered_at", "is not", null).execute();
    await waitFor(async () => (await deadRows()).length === 1, 5_000, "dead-lettered row");
    const poison = await deadRows();
    expect(poison).toHaveLength(1);
    expect(poison[0]).toMatchObject({ aggregate_id: "p", retry_count: 3 });
    expect(poison[0].last_error).toMatch(/MESSAGE_TOO_LARGE/);
    await waitFor(() => dlq.length === 1, 5_000, "dead letter");
    expect(dlq[0].headers[HEADERS.deadLetterReason]).toMatch(/MESSAGE_TOO_LARGE/);
    expect(dlq[0].headers[HEADERS.eventId]).toBe(poison[0].id);
    expect(JSON.parse(dlq[0].value).payload).toEqual({ omitted: true, bytes: expect.any(Number) });
    expect(p.deadLettered).toBe(1);
  });

  it("dead-letters a payload that fails the consumer's schema, with the reason, and applies the rest", async () => {
    const dlq = await deadLetters(topicFor("counter"));
    const consumer = effectConsumer();
    await consumer.start();
    await writeCounters(["a"], 4, (n) => (n === 2 ? { n: "two" } : { n }));
    const p = processor();
    await p.start();
    await waitFor(
      async () => (await db.selectFrom("effects").selectAll().execute()).length === 3,
      10_000,
      "3 effects",
    );
    await waitFor(() => dlq.length === 1, 5_000, "dead letter");
    expect(dlq[0].headers[HEADERS.deadLetterReason]).toMatch(/payload failed validation: n: /);
    expect(dlq[0].headers[HEADERS.deadLetterStage]).toBe("consume:graph.effects");
    expect((await db.selectFrom("effects").select("n").orderBy("n").execute()).map((e) => e.n)).toEqual([
      0, 1, 3,
    ]);
  });

  it("retries an effect that throws, then dead-letters it without blocking the others", async () => {
    const dlq = await deadLetters(topicFor("counter"));
    let attemptsOn7 = 0;
    const consumer = effectConsumer("flaky", (n) => n === 7 && ++attemptsOn7 > 0);
    await consumer.start();
    await writeCounters(["a", "b"], 10);
    const p = processor();
    await p.start();
    await waitFor(
      async () => (await db.selectFrom("effects").selectAll().execute()).length === 18,
      10_000,
      "18 effects",
    );
    await waitFor(() => dlq.length === 2, 5_000, "two dead letters");
    expect(dlq[0].headers[HEADERS.deadLetterReason]).toMatch(/handler failed 3 times: cannot apply 7/);
    // A dead-lettered event is not recorded as processed: a replay from the DLQ can still apply it.
    const processed = await db.selectFrom("processed_events").select("event_id").execute();
    expect(processed).toHaveLength(18);
  });

  it("prunes published rows past the retention, keeps unpublished ones", async () => {
    await writeCounters(["a"], 5);
    const p = processor({ retentionMs: 60_000, pruneIntervalMs: 0 });
    expect(await p.drain()).toBe(5);
    await writeCounters(["a"], 2);
    await db
      .updateTable("outbox_events")
      .set({ published_at: sql`now() - interval '2 minutes'` })
      .where("published_at", "is not", null)
      .execute();
    await p.start();
    await waitFor(
      async () => (await db.selectFrom("outbox_events").selectAll().execute()).length === 2,
      5_000,
      "pruned",
    );
    const left = await db.selectFrom("outbox_events").selectAll().execute();
    expect(left.every((r) => r.published_at === null || Date.now() - r.published_at.getTime() < 60_000)).toBe(
      true,
    );
  });

  it("graph creates a social_metadata row once per user.registered, however often it is delivered", async () => {
    const c = graphIdentityConsumer(db as unknown as Kysely<GraphTables>, bus, silentLogger);
    await c.start();
    stops.push(() => c.stop());
    const e = identityEvent("user.registered", {
      user_id: "@u:x",
      localpart: "u",
      is_guest: false,
      created_at: 5,
    });
    await withOutbox(db, database.schema, async (_t, emit) => emit(e));
    const p = processor();
    await p.drain();
    const row = await db.selectFrom("social_metadata").selectAll().executeTakeFirst();
    expect(row).toMatchObject({ user_id: "@u:x", follower_count: 0, created_at: 5 });
    expect(c.applied).toBe(1);
  });
});
