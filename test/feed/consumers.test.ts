import { randomUUID } from "node:crypto";
import { Redis } from "ioredis";
import { afterEach, describe, expect, it } from "vitest";
import { DEFAULT_FEED_SETTINGS } from "../../companion-services/feed/config.ts";
import { createFeedConsumers } from "../../companion-services/feed/consumers.ts";
import { FeedWriter } from "../../companion-services/feed/fanout.ts";
import { MemoryTimelineStore } from "../../companion-services/feed/timeline-memory.ts";
import { RedisTimelineStore } from "../../companion-services/feed/timeline-redis.ts";
import type { TimelineStore } from "../../companion-services/feed/timeline-store.ts";
import { isInfrastructureError } from "../../companion-services/platform/consumer.ts";
import { toRecord } from "../../companion-services/platform/envelope.ts";
import { MemoryEventBus } from "../../companion-services/platform/event-bus/memory.ts";
import type { DeliveredRecord } from "../../companion-services/platform/event-bus.ts";
import { silentLogger } from "../platform/helpers.ts";
import { FakeContent, FakeGraph } from "./fakes.ts";

let offset = 0;
function record(eventType: string, payload: Record<string, unknown>): DeliveredRecord {
  const r = toRecord({
    id: randomUUID(),
    aggregate_type: "post",
    aggregate_id: String(payload.post_id ?? "x"),
    event_type: eventType,
    payload,
    metadata: {},
    created_at: Date.now(),
  });
  return { ...r, partition: 0, offset: String(offset++) };
}

const published = (postId: string, createdAt: number) =>
  record("post.published", {
    post_id: postId,
    author_id: "@bob:test",
    title: null,
    content: "hi",
    visibility: "public",
    language: null,
    images: [],
    videos: [],
    shared_post_id: null,
    created_at: createdAt,
    updated_at: createdAt,
  });

describe("feed consumers", () => {
  const closers: (() => Promise<void> | void)[] = [];
  afterEach(async () => {
    for (const c of closers.splice(0)) await c();
  });

  const consumersOn = (store: TimelineStore) => {
    const graph = new FakeGraph();
    graph.follow("@alice:test", "@bob:test");
    const writer = new FeedWriter(store, graph, new FakeContent(), DEFAULT_FEED_SETTINGS, silentLogger);
    const bus = new MemoryEventBus();
    closers.push(() => bus.close());
    const [posts] = createFeedConsumers(writer, bus, silentLogger);
    return posts!;
  };

  it("dead-letters a malformed event and applies the rest of its batch", async () => {
    const store = new MemoryTimelineStore();
    const posts = consumersOn(store);
    const good = randomUUID();
    await posts.handleBatch([
      record("post.published", { post_id: "not-a-uuid", author_id: "@bob:test" }),
      published(good, 10),
    ]);
    expect(posts.deadLettered).toBe(1);
    expect(await store.page("@alice:test", null, 10)).toEqual([{ postId: good, score: 10 }]);
  });

  it("rejects the batch (to be redelivered) instead of dead-lettering while Redis cannot be reached", async () => {
    const redis = new Redis("redis://127.0.0.1:1", {
      lazyConnect: true,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
    });
    closers.push(() => redis.disconnect());
    const posts = consumersOn(new RedisTimelineStore(redis, "nova:test:unreachable:"));
    const err = await posts.handleBatch([published(randomUUID(), 10)]).then(
      () => null,
      (e: unknown) => e,
    );
    expect(isInfrastructureError(err)).toBe(true);
    expect(posts.deadLettered).toBe(0);
  });
});
