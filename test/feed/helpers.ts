import { randomBytes } from "node:crypto";
import { Redis } from "ioredis";
import { DEFAULT_FEED_SETTINGS, type FeedSettings } from "../../companion-services/feed/config.ts";
import { createFeed } from "../../companion-services/feed/index.ts";
import { MemoryTimelineStore } from "../../companion-services/feed/timeline-memory.ts";
import { RedisTimelineStore } from "../../companion-services/feed/timeline-redis.ts";
import type { TimelineStore } from "../../companion-services/feed/timeline-store.ts";
import { unknownToken } from "../../companion-services/platform/errors.ts";
import { MemoryEventBus } from "../../companion-services/platform/event-bus/memory.ts";
import { Router } from "../../companion-services/platform/http/router.ts";
import { HttpServer } from "../../companion-services/platform/http/server.ts";
import { jsonCaller } from "../helpers/json-call.ts";
import { openFresh, silentLogger } from "../platform/helpers.ts";
import { EventSource, FakeContent, FakeGraph } from "./fakes.ts";

export const REDIS_URL = process.env.REDIS_URL;
export type StoreKind = "memory" | "redis";

/** A timeline store of the kind asked, with its own key prefix on Redis (cleaned up by `close`). */
export async function openStore(kind: StoreKind): Promise<{ store: TimelineStore; close(): Promise<void> }> {
  if (kind === "memory") {
    const store = new MemoryTimelineStore();
    return { store, close: () => store.close() };
  }
  if (!REDIS_URL) throw new Error("REDIS_URL is not set");
  const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 2 });
  const prefix = `nova:test:feed:${randomBytes(6).toString("hex")}:`;
  return {
    store: new RedisTimelineStore(redis, prefix),
    async close() {
      let cursor = "0";
      do {
        const [next, keys] = await redis.scan(cursor, "MATCH", `${prefix}*`, "COUNT", 1000);
        if (keys.length > 0) await redis.del(...keys);
        cursor = next;
      } while (cursor !== "0");
      redis.disconnect();
    },
  };
}

/**
 * The feed service on fresh storage (PGlite, or PostgreSQL with DATABASE_URL), fake graph and
 * content, the in-process bus, behind the platform's HTTP front. A token `<localpart>` authenticates
 * as `@<localpart>:test`.
 */
export async function feedEnv(opts: { store?: StoreKind; settings?: Partial<FeedSettings> } = {}) {
  const env = await openFresh(["feed"]);
  const graph = new FakeGraph();
  const content = new FakeContent();
  const bus = new MemoryEventBus();
  const timelines = await openStore(opts.store ?? "memory");
  const feed = createFeed(
    env.databases.get("feed"),
    { graph, content, store: timelines.store },
    bus,
    silentLogger,
    { feed: { ...DEFAULT_FEED_SETTINGS, fanInTtlMs: 0, followingTtlMs: 0, ...opts.settings } },
  );
  await feed.start();
  const router = new Router();
  feed.mount(router);
  const server = new HttpServer({
    router,
    logger: silentLogger,
    maxRequestBody: 1024 * 1024,
    authenticate: async (token) => {
      if (!/^[a-z0-9]+$/.test(token)) throw unknownToken();
      return { userId: `@${token}:test`, deviceId: "D", sessionId: token, isGuest: false };
    },
  });
  const port = await server.listen("127.0.0.1", 0);
  const base = `http://127.0.0.1:${port}`;

  const call = jsonCaller(base);

  /** Post ids of one feed page of `token`'s, and its `next`. */
  const page = async (token: string, query = "") => {
    const r = await call("GET", `/_nova/v1/feed${query}`, token);
    if (r.status !== 200) throw new Error(`feed answered ${r.status}: ${JSON.stringify(r.body)}`);
    const posts = r.body.posts as { post_id: string }[];
    return { ids: posts.map((p) => p.post_id), next: r.body.next as string | undefined, body: r.body };
  };

  return {
    feed,
    graph,
    content,
    bus,
    store: timelines.store,
    events: new EventSource(bus, content, graph),
    call,
    page,
    async close() {
      await server.close();
      await feed.stop();
      await bus.close();
      await timelines.close();
      await env.close();
    },
  };
}

export type FeedEnv = Awaited<ReturnType<typeof feedEnv>>;

/** The stores the contract and service tests run on: Redis only with REDIS_URL. */
export const STORES: StoreKind[] = REDIS_URL ? ["memory", "redis"] : ["memory"];
if (!REDIS_URL) console.log("feed tests: REDIS_URL not set, the Redis timeline store is skipped");
