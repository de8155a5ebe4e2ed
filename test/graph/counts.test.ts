import { sql } from "kysely";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { graphCountsConsumer } from "../../companion-services/graph/consumers.ts";
import { GRAPH_AGGREGATE } from "../../companion-services/graph/events.ts";
import { toRecord } from "../../companion-services/platform/envelope.ts";
import { MemoryEventBus } from "../../companion-services/platform/event-bus/memory.ts";
import type { DeliveredRecord } from "../../companion-services/platform/event-bus.ts";
import { silentLogger } from "../platform/helpers.ts";
import { type GraphServer, graphServer, rowOf } from "./helpers.ts";

describe("graph's counts (social_metadata) under replay", () => {
  let g: GraphServer;
  beforeAll(async () => {
    g = await graphServer();
  }, 60_000);
  afterAll(async () => {
    await g?.server.close();
  });

  const counts = () =>
    g.graphDb
      .selectFrom("social_metadata")
      .select(["user_id", "follower_count", "following_count"])
      .orderBy("user_id")
      .execute();
  /** What the counts must be: the follows table counted. */
  const truth = async () => {
    const rows = await g.graphDb
      .selectFrom("social_metadata as m")
      .select((eb) => [
        "m.user_id",
        eb
          .selectFrom("follows")
          .select(sql<number>`count(*)::int`.as("n"))
          .whereRef("followee_id", "=", "m.user_id")
          .as("follower_count"),
        eb
          .selectFrom("follows")
          .select(sql<number>`count(*)::int`.as("n"))
          .whereRef("follower_id", "=", "m.user_id")
          .as("following_count"),
      ])
      .orderBy("m.user_id")
      .execute();
    return rows.map((r) => ({
      ...r,
      follower_count: Number(r.follower_count),
      following_count: Number(r.following_count),
    }));
  };
  /** Graph's follow topic as it was published: every follow.* event its outbox holds, in order. */
  const topic = async (): Promise<DeliveredRecord[]> => {
    const rows = await g.graphDb
      .selectFrom("outbox_events")
      .selectAll()
      .where("aggregate_type", "=", GRAPH_AGGREGATE)
      .orderBy("seq")
      .execute();
    return rows.map((r, i) => ({
      ...toRecord({
        id: r.id,
        aggregate_type: r.aggregate_type,
        aggregate_id: r.aggregate_id,
        event_type: r.event_type,
        payload: r.payload,
        metadata: r.metadata,
        created_at: new Date(r.created_at).getTime(),
      }),
      partition: 0,
      offset: String(i),
    }));
  };

  it("replaying the whole follow topic (in one batch, one by one, twice over) leaves every count as it was", async () => {
    const users = [await g.user(), await g.user(), await g.user(), await g.user()];
    const [a, b, c, d] = users;
    await g.follow(a!, b!.userId);
    await g.follow(c!, b!.userId);
    await g.follow(a!, c!.userId);
    await g.follow(d!, a!.userId);
    await g.unfollow(c!, b!.userId);
    await g.follow(c!, b!.userId);
    await g.unfollow(d!, a!.userId);
    await g.countsReach(b!.userId, 2, 0);
    await g.countsReach(a!.userId, 0, 2);
    await g.countsReach(d!.userId, 0, 0);
    const before = await counts();
    expect(before).toEqual(await truth());

    const records = await topic();
    expect(records.length).toBe(7);
    // The same consumer group as the running one (graph.follow-counts): it has seen every id.
    const replay = graphCountsConsumer({
      db: g.graphDb,
      schema: "graph",
      bus: new MemoryEventBus(),
      logger: silentLogger,
    });
    await replay.handleBatch(records);
    for (const r of [...records].reverse()) await replay.handleBatch([r]);
    await replay.handleBatch([...records, ...records]);
    expect(replay.applied).toBe(0);
    expect(replay.deadLettered).toBe(0);
    expect(await counts()).toEqual(before);
    expect(await counts()).toEqual(await truth());
  });

  it("a deactivated account leaves graph: 404 to follow, its follows gone and the others' counts back", async () => {
    const [gone, fan, idol] = [await g.user(), await g.user(), await g.user()];
    await g.follow(fan, gone.userId);
    await g.follow(gone, idol.userId);
    await g.countsReach(idol.userId, 1, 0);
    await g.countsReach(fan.userId, 0, 1);
    const r = await g.server.call("POST", "/_matrix/client/v3/account/deactivate", {
      token: gone.accessToken,
      body: {
        auth: {
          type: "m.login.password",
          identifier: { type: "m.id.user", user: gone.userId },
          password: "correct horse battery staple",
        },
      },
    });
    expect(r.status).toBe(200);
    await g.countsReach(idol.userId, 0, 0);
    await g.countsReach(fan.userId, 0, 0);
    expect(await rowOf(g.graphDb, gone.userId)).toBeUndefined();
    const again = await g.follow(fan, gone.userId);
    expect([again.status, again.body.errcode]).toEqual([404, "M_NOT_FOUND"]);
    expect(await counts()).toEqual(await truth());
  });

  it("a follower graph has not heard of yet (identity's event still on its way) is counted all the same", async () => {
    const [early, idol] = [await g.user(), await g.user()];
    // As if user.registered had not arrived: the row is not there when the follow comes.
    await g.graphDb.deleteFrom("social_metadata").where("user_id", "=", early.userId).execute();
    expect((await g.follow(early, idol.userId)).status).toBe(200);
    await g.countsReach(early.userId, 0, 1);
    await g.countsReach(idol.userId, 1, 0);
  });
});
