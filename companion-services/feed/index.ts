import type { ContentClient } from "../content/client.ts";
import type { GraphClient } from "../graph/client.ts";
import type { EventConsumer } from "../platform/consumer.ts";
import type { ServiceDatabase } from "../platform/database.ts";
import type { EventBus } from "../platform/event-bus.ts";
import type { Router } from "../platform/http/router.ts";
import type { Logger } from "../platform/logger.ts";
import { newRedis } from "../platform/redis.ts";
import type { FeedSettings } from "./config.ts";
import { createFeedConsumers } from "./consumers.ts";
import { FeedWriter } from "./fanout.ts";
import { FeedPreferencesRepository } from "./preferences.repository.ts";
import { FeedReader } from "./reader.ts";
import { mountFeedRoutes } from "./routes.ts";
import { FeedService } from "./service.ts";
import type { FeedTables } from "./tables.ts";
import { MemoryTimelineStore } from "./timeline-memory.ts";
import { RedisTimelineStore } from "./timeline-redis.ts";
import type { TimelineStore } from "./timeline-store.ts";

export { FEED_ROUTES } from "./routes.ts";
export type { FeedService } from "./service.ts";

export type FeedDeps = {
  /** In-process under npm start, over gRPC under `nova serve feed`. */
  graph: GraphClient;
  content: ContentClient;
  /** REDIS_URL: timelines in Redis, shared by every feed replica; without it, in this process. */
  redisUrl?: string | undefined;
  /** A store built by the caller (tests, benchmarks); wins over redisUrl. */
  store?: TimelineStore;
};

export type Feed = {
  service: FeedService;
  writer: FeedWriter;
  store: TimelineStore;
  /** Registers `/_nova/v1/feed` and `/_nova/v1/feed/preferences` on a router. */
  mount(router: Router): void;
  /** Starts the consumers of content's post events and graph's follow events. */
  start(): Promise<void>;
  stop(): Promise<void>;
};

/**
 * The feed service: home timelines (fan-out on write, fan-in at read above the threshold) and
 * each user's feed preferences on its own database. The same in the homeserver's process and in
 * its own (`nova serve feed`); graph and content are reached through their clients only.
 */
export function createFeed(
  database: ServiceDatabase<unknown>,
  deps: FeedDeps,
  bus: EventBus,
  logger: Logger,
  config: { feed: FeedSettings },
): Feed {
  const own = database as ServiceDatabase<FeedTables>;
  const log = logger.child({ service: "feed" });
  const settings = config.feed;
  const redis = !deps.store && deps.redisUrl ? newRedis(deps.redisUrl, { maxRetriesPerRequest: 2 }) : null;
  redis?.on("error", (err: unknown) => log.warn({ err }, "feed's Redis connection failed"));
  const store = deps.store ?? (redis ? new RedisTimelineStore(redis) : new MemoryTimelineStore());
  const reader = new FeedReader(store, deps.graph, deps.content, settings);
  const writer = new FeedWriter(
    store,
    deps.graph,
    deps.content,
    settings,
    log,
    (followerId) => reader.forgetFollowing(followerId),
    (authorId) => reader.fanIn.forget(authorId),
  );
  const service = new FeedService(new FeedPreferencesRepository(own.db), reader);
  const consumers: EventConsumer<FeedTables>[] = createFeedConsumers(writer, bus, log);
  return {
    service,
    writer,
    store,
    mount(router) {
      mountFeedRoutes(router, service);
    },
    async start() {
      for (const c of consumers) await c.start();
    },
    async stop() {
      for (const c of consumers) await c.stop();
      await store.close();
      redis?.disconnect();
    },
  };
}
