import { type EventConsumer, pruneProcessedEvents } from "../platform/consumer.ts";
import type { ServiceDatabase } from "../platform/database.ts";
import type { EventBus } from "../platform/event-bus.ts";
import type { Router } from "../platform/http/router.ts";
import type { Logger } from "../platform/logger.ts";
import type { SearchConfig } from "./config.ts";
import { createSearchConsumers } from "./consumers.ts";
import { readModel } from "./read-model.repository.ts";
import { mountSearchRoutes } from "./routes.ts";
import { SearchService } from "./service.ts";
import type { SearchTables } from "./tables.ts";

export type { SearchClient } from "./client.ts";
export { SEARCH_ROUTES } from "./routes.ts";
export { SearchService } from "./service.ts";

export type Search = {
  service: SearchService;
  /** `/_nova/v1/search`, and the reindex admin call when told who is an admin. */
  mount(router: Router, opts?: { isAdmin?: (userId: string) => Promise<boolean> }): void;
  /** Starts the consumers of the identity, content and homeserver topics. */
  start(): Promise<void>;
  stop(): Promise<void>;
  /**
   * Drops the read model and rebuilds it from the topics: new consumer groups reading from the
   * beginning (Kafka: what retention keeps; the in-process bus: its recent tail only).
   */
  reindex(): Promise<{ generation: number }>;
};

/** How often, and after how long, the ids of applied events are forgotten. */
const PRUNE_EVERY_MS = 3_600_000;
/** Far beyond any redelivery (a Kafka rebalance, an outbox retry): one row per indexed event otherwise. */
const PROCESSED_RETENTION_MS = 7 * 24 * 3_600_000;

/**
 * `nova search reindex` with no server running: the read model emptied in the database and moved
 * to a new generation, so the next start's consumers rebuild it from the topics.
 */
export function resetReadModel(database: ServiceDatabase<unknown>): Promise<number> {
  return readModel.reset((database as ServiceDatabase<SearchTables>).db, Date.now());
}

/**
 * The search service on its own database: the same in the homeserver's process (npm start) and
 * in its own (`nova serve search`). It writes only its read model, from the events on the bus.
 */
export function createSearch(
  database: ServiceDatabase<unknown>,
  bus: EventBus,
  logger: Logger,
  _config: SearchConfig,
): Search {
  const db = (database as ServiceDatabase<SearchTables>).db;
  const log = logger.child({ service: "search" });
  const service = new SearchService(db);
  let consumers: EventConsumer<SearchTables>[] = [];
  let running = false;
  let prune: NodeJS.Timeout | null = null;
  const startConsumers = async () => {
    consumers = createSearchConsumers(db, bus, log, await readModel.generation(db));
    for (const c of consumers) await c.start();
  };
  const stopConsumers = async () => {
    for (const c of consumers) await c.stop();
    consumers = [];
  };
  const search: Search = {
    service,
    mount(router, opts = {}) {
      const isAdmin = opts.isAdmin;
      mountSearchRoutes(
        router,
        service,
        log,
        isAdmin ? { isAdmin, reindex: () => search.reindex() } : undefined,
      );
    },
    async start() {
      running = true;
      await startConsumers();
      prune = setInterval(() => {
        pruneProcessedEvents(db, PROCESSED_RETENTION_MS).catch((err: unknown) =>
          log.warn({ err }, "processed_events prune failed"),
        );
      }, PRUNE_EVERY_MS);
      prune.unref();
    },
    async stop() {
      running = false;
      if (prune) clearInterval(prune);
      prune = null;
      await stopConsumers();
    },
    async reindex() {
      const wasRunning = running;
      await stopConsumers();
      const generation = await readModel.reset(db, Date.now());
      log.info({ generation }, "search read model dropped: rebuilding from the topics");
      if (wasRunning) await startConsumers();
      return { generation };
    },
  };
  return search;
}
