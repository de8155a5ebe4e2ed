import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Content, createContent } from "../../companion-services/content/index.ts";
import { DEFAULT_FEED_SETTINGS } from "../../companion-services/feed/config.ts";
import { createFeed, type Feed } from "../../companion-services/feed/index.ts";
import { MemoryEventBus } from "../../companion-services/platform/event-bus/memory.ts";
import type { OutboxProcessor } from "../../companion-services/platform/outbox/processor.ts";
import { startOutbox } from "../../companion-services/platform/runtime.ts";
import { loadConfig } from "../../server/config.ts";
import { openFresh, silentLogger, waitFor } from "../platform/helpers.ts";
import { FakeGraph } from "./fakes.ts";

const alice = "@alice:feed.test";
const bob = "@bob:feed.test";
const star = "@star:feed.test";

/**
 * Feed against the real content service (its outbox on the in-process bus, its GetPosts and
 * GetUserPosts in-process) with graph as a fake: content's own events reach the timelines.
 */
describe("feed with the content service", () => {
  let fresh: Awaited<ReturnType<typeof openFresh>>;
  let bus: MemoryEventBus;
  let content: Content;
  let feed: Feed;
  let outbox: OutboxProcessor;
  const graph = new FakeGraph();
  const ids = async (user: string) => (await feed.service.page(user, null, 50)).posts.map((p) => p.id);

  beforeAll(async () => {
    fresh = await openFresh(["content", "feed"]);
    bus = new MemoryEventBus();
    const config = loadConfig({ NOVA_DATA_DIR: "memory://" });
    const media = { getMediaBatch: async () => [], getVideo: async () => null };
    content = createContent(fresh.databases.get("content"), { media, graph }, bus, silentLogger, config);
    feed = createFeed(fresh.databases.get("feed"), { graph, content: content.service }, bus, silentLogger, {
      feed: { ...DEFAULT_FEED_SETTINGS, fanoutThreshold: 2, fanInTtlMs: 0, followingTtlMs: 0 },
    });
    await content.start();
    await feed.start();
    outbox = await startOutbox(fresh.databases.get("content"), bus, silentLogger, config.outbox);
    graph.follow(alice, bob);
    for (const f of [alice, "@x:feed.test", "@y:feed.test"]) graph.follow(f, star);
  });
  afterAll(async () => {
    await outbox?.stop();
    await feed?.stop();
    await content?.stop();
    await bus?.close();
    await fresh?.close();
  });

  it("shows a followee's post within a second, and drops it when deleted", async () => {
    const p = await content.service.posts.create(bob, { content: "hello feed" });
    const t0 = Date.now();
    await waitFor(async () => (await ids(alice)).includes(p.id), 1_000, "post in alice's feed");
    expect(Date.now() - t0).toBeLessThan(1_000);
    expect((await feed.store.page(alice, null, 10)).map((e) => e.postId)).toContain(p.id);
    await content.service.posts.delete(bob, p.id);
    await waitFor(
      async () => !(await feed.store.page(alice, null, 10)).some((e) => e.postId === p.id),
      5_000,
      "post out of alice's timeline",
    );
    expect(await ids(alice)).not.toContain(p.id);
  });

  it("shows a draft only once published, and not after it goes back to draft", async () => {
    const d = await content.service.posts.create(bob, { content: "later", status: "draft" });
    expect(await ids(alice)).not.toContain(d.id);
    await content.service.posts.edit(bob, d.id, { status: "published" });
    await waitFor(async () => (await ids(alice)).includes(d.id), 5_000, "published draft in the feed");
    await content.service.posts.edit(bob, d.id, { status: "draft" });
    await waitFor(async () => !(await ids(alice)).includes(d.id), 5_000, "draft again out of the feed");
  });

  it("reads an author over the threshold through content's GetUserPosts, merged in order", async () => {
    const a = await content.service.posts.create(star, { content: "big one" });
    const b = await content.service.posts.create(bob, { content: "small one" });
    const c = await content.service.posts.create(star, { content: "big two" });
    await waitFor(async () => (await ids(alice)).includes(b.id), 5_000, "bob's post");
    const feedIds = await ids(alice);
    expect(feedIds.slice(0, 3)).toEqual([c.id, b.id, a.id]);
    expect(await feed.store.fanInAmong([star])).toEqual(new Set([star]));
    expect((await feed.store.page(alice, null, 50)).map((e) => e.postId)).not.toContain(a.id);
  });
});
