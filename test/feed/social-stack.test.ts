import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Content, createContent } from "../../companion-services/content/index.ts";
import { DEFAULT_FEED_SETTINGS } from "../../companion-services/feed/config.ts";
import { createFeed, type Feed } from "../../companion-services/feed/index.ts";
import { createGraph, type Graph } from "../../companion-services/graph/index.ts";
import { identityEvent } from "../../companion-services/identity/events.ts";
import { toRecord } from "../../companion-services/platform/envelope.ts";
import { MemoryEventBus } from "../../companion-services/platform/event-bus/memory.ts";
import type { OutboxProcessor } from "../../companion-services/platform/outbox/processor.ts";
import { startOutbox } from "../../companion-services/platform/runtime.ts";
import { loadConfig } from "../../server/config.ts";
import { openFresh, silentLogger, waitFor } from "../platform/helpers.ts";

const alice = "@alice:stack.test";
const bob = "@bob:stack.test";
const star = "@star:stack.test";
const fans = ["@x:stack.test", "@y:stack.test"];

/**
 * Feed with the real graph and content services on their own databases, each hearing the others
 * only through the in-process bus, as under npm start: graph's follow events and content's post
 * events reach the timelines, and reads go through graph's and content's clients.
 */
describe("feed with graph and content", () => {
  let fresh: Awaited<ReturnType<typeof openFresh>>;
  let bus: MemoryEventBus;
  let graph: Graph;
  let content: Content;
  let feed: Feed;
  let contentOutbox: OutboxProcessor;
  const ids = async (user: string) => (await feed.service.page(user, null, 50)).posts.map((p) => p.id);

  beforeAll(async () => {
    fresh = await openFresh(["graph", "content", "feed"]);
    bus = new MemoryEventBus();
    const config = loadConfig({ NOVA_DATA_DIR: "memory://" });
    graph = createGraph(fresh.databases.get("graph"), config, bus, silentLogger);
    const media = { getMediaBatch: async () => [], getVideo: async () => null };
    content = createContent(
      fresh.databases.get("content"),
      { media, graph: graph.service },
      bus,
      silentLogger,
      config,
    );
    feed = createFeed(
      fresh.databases.get("feed"),
      { graph: graph.service, content: content.service },
      bus,
      silentLogger,
      { feed: { ...DEFAULT_FEED_SETTINGS, fanoutThreshold: 2, fanInTtlMs: 0, followingTtlMs: 0 } },
    );
    await graph.start();
    await content.start();
    await feed.start();
    contentOutbox = await startOutbox(fresh.databases.get("content"), bus, silentLogger, config.outbox);
    for (const u of [alice, bob, star, ...fans]) {
      const e = identityEvent("user.registered", {
        user_id: u,
        localpart: u.slice(1, u.indexOf(":")),
        is_guest: false,
        created_at: Date.now(),
      });
      await bus.publish([
        toRecord({
          id: randomUUID(),
          aggregate_type: e.aggregateType,
          aggregate_id: e.aggregateId,
          event_type: e.eventType,
          payload: e.payload,
          metadata: {},
          created_at: Date.now(),
        }),
      ]);
    }
  });
  afterAll(async () => {
    await contentOutbox?.stop();
    await feed?.stop();
    await content?.stop();
    await graph?.stop();
    await bus?.close();
    await fresh?.close();
  });

  it("follow, post, unfollow and follow again: the feed follows graph's and content's events", async () => {
    await waitFor(
      async () => (await graph.service.getSocialMetadata(bob)) !== null,
      5_000,
      "bob known to graph",
    );
    await graph.service.follow(alice, bob);
    const p = await content.service.posts.create(bob, { content: "from bob" });
    const t0 = Date.now();
    await waitFor(async () => (await ids(alice)).includes(p.id), 1_000, "bob's post in alice's feed");
    expect(Date.now() - t0).toBeLessThan(1_000);
    await graph.service.unfollow(alice, bob);
    await waitFor(async () => !(await ids(alice)).includes(p.id), 5_000, "bob's post gone after unfollow");
    await waitFor(
      async () => !(await feed.store.page(alice, null, 10)).some((e) => e.postId === p.id),
      5_000,
      "bob's post out of alice's timeline",
    );
    await graph.service.follow(alice, bob);
    await waitFor(async () => (await ids(alice)).includes(p.id), 5_000, "backfilled after following again");
    await content.service.posts.delete(bob, p.id);
    await waitFor(async () => !(await ids(alice)).includes(p.id), 5_000, "deleted post gone");
  });

  it("reads an author over the threshold at read time", async () => {
    for (const f of [alice, ...fans]) await graph.service.follow(f, star);
    await waitFor(
      async () => ((await graph.service.getSocialMetadata(star))?.followerCount ?? 0) === 3,
      5_000,
      "star's follower count",
    );
    const s = await content.service.posts.create(star, { content: "to the many" });
    await waitFor(async () => (await ids(alice)).includes(s.id), 5_000, "star's post in alice's feed");
    expect(await feed.store.fanInAmong([star])).toEqual(new Set([star]));
    expect((await feed.store.page(fans[0]!, null, 10)).map((e) => e.postId)).not.toContain(s.id);
    expect(await ids(fans[0]!)).toContain(s.id);
  });
});
