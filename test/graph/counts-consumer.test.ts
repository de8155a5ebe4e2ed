import { randomUUID } from "node:crypto";
import type { Kysely } from "kysely";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { graphCountsConsumer } from "../../companion-services/graph/consumers.ts";
import { type GraphEventType, graphEvent } from "../../companion-services/graph/events.ts";
import type { GraphTables } from "../../companion-services/graph/tables.ts";
import { toRecord } from "../../companion-services/platform/envelope.ts";
import { MemoryEventBus } from "../../companion-services/platform/event-bus/memory.ts";
import type { DeliveredRecord } from "../../companion-services/platform/event-bus.ts";
import { openFresh, silentLogger } from "../platform/helpers.ts";

describe("graph's counts consumer on its own (batches, redelivery)", () => {
  let env: Awaited<ReturnType<typeof openFresh>>;
  let db: Kysely<GraphTables>;
  beforeAll(async () => {
    env = await openFresh(["graph"]);
    db = env.databases.get<GraphTables>("graph").db;
    await db
      .insertInto("social_metadata")
      .values(
        ["@a:t", "@b:t", "@c:t"].map((u) => ({
          user_id: u,
          follower_count: 0,
          following_count: 0,
          created_at: 0,
        })),
      )
      .execute();
  }, 60_000);
  afterAll(async () => {
    await env?.close();
  });

  let offset = 0;
  const rec = (type: GraphEventType, follower: string, followee: string): DeliveredRecord => {
    const e =
      type === "follow.created"
        ? graphEvent("follow.created", { follower_id: follower, followee_id: followee, created_at: 1 })
        : graphEvent("follow.deleted", { follower_id: follower, followee_id: followee, deleted_at: 2 });
    return {
      ...toRecord({
        id: randomUUID(),
        aggregate_type: e.aggregateType,
        aggregate_id: e.aggregateId,
        event_type: e.eventType,
        payload: e.payload,
        metadata: {},
        created_at: Date.now(),
      }),
      partition: 0,
      offset: String(offset++),
    };
  };
  const counts = async () =>
    Object.fromEntries(
      (await db.selectFrom("social_metadata").selectAll().orderBy("user_id").execute()).map((r) => [
        r.user_id,
        [r.follower_count, r.following_count],
      ]),
    );

  it("a batch of follows and unfollows moves each count by its sum, and the same batch again moves nothing", async () => {
    const c = graphCountsConsumer({ db, schema: "graph", bus: new MemoryEventBus(), logger: silentLogger });
    const batch = [
      rec("follow.created", "@a:t", "@b:t"),
      rec("follow.created", "@c:t", "@b:t"),
      rec("follow.created", "@a:t", "@c:t"),
      rec("follow.deleted", "@c:t", "@b:t"),
      rec("follow.created", "@b:t", "@a:t"),
      // A user graph no longer knows (deactivated): their side is left alone, the other moves.
      rec("follow.created", "@gone:t", "@a:t"),
    ];
    await c.handleBatch(batch);
    expect(c.applied).toBe(6);
    expect(await counts()).toEqual({ "@a:t": [2, 2], "@b:t": [1, 1], "@c:t": [1, 0] });
    await c.handleBatch(batch);
    await c.handleBatch([batch[3]!, batch[0]!]);
    expect(c.applied).toBe(6);
    expect(await counts()).toEqual({ "@a:t": [2, 2], "@b:t": [1, 1], "@c:t": [1, 0] });
  });
});
