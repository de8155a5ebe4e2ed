import type { EventConsumer } from "../platform/consumer.ts";
import type { ServiceDatabase } from "../platform/database.ts";
import type { EventBus } from "../platform/event-bus.ts";
import type { Router } from "../platform/http/router.ts";
import type { Logger } from "../platform/logger.ts";
import type { OutboxProcessor } from "../platform/outbox/processor.ts";
import type { OutboxSettings } from "../platform/platform-config.ts";
import { startOutbox } from "../platform/runtime.ts";
import { createGraphConsumersOn } from "./consumers.ts";
import { mountGraphRoutes } from "./routes.ts";
import { GraphService } from "./service.ts";
import type { GraphTables } from "./tables.ts";

export type { FollowEdge, FollowPage, GraphClient, SocialMetadata } from "./client.ts";
export { GRAPH_ROUTES } from "./routes.ts";
export type { GraphService } from "./service.ts";

export type GraphDeps = {
  /** The process's outbox settings: graph's own outbox publishes its follow events. */
  outbox: OutboxSettings;
};

export type Graph = {
  /** A GraphClient (what other services call) plus follow / unfollow and the REST views. */
  service: GraphService;
  /** Registers `/_nova/v1/users/{userId}/follow|followers|following|social` on a router. */
  mount(router: Router): void;
  /** Starts graph's consumers (identity's, messaging's account events, its own follow events) and its outbox. */
  start(): Promise<void>;
  stop(): Promise<void>;
};

/**
 * The graph service on its own database: the same in the homeserver's process (npm start) and
 * in its own (`nova serve graph`). It reads only its own tables and the events on the bus.
 */
export function createGraph(
  database: ServiceDatabase<unknown>,
  deps: GraphDeps,
  bus: EventBus,
  logger: Logger,
): Graph {
  const own = database as ServiceDatabase<GraphTables>;
  const log = logger.child({ service: "graph" });
  const service = new GraphService(own.db, own.schema);
  const consumers = createGraphConsumersOn({ db: own.db, schema: own.schema, bus, logger: log });
  let outbox: OutboxProcessor | null = null;
  return {
    service,
    mount(router) {
      mountGraphRoutes(router, service);
    },
    async start() {
      for (const c of consumers) await c.start();
      outbox = await startOutbox(database, bus, log, deps.outbox);
    },
    async stop() {
      await outbox?.stop();
      outbox = null;
      for (const c of consumers) await c.stop();
    },
  };
}

/** Graph's consumers alone, on its own database (started by the caller). */
export function createGraphConsumers(
  database: ServiceDatabase<unknown>,
  bus: EventBus,
  logger: Logger,
): EventConsumer<GraphTables>[] {
  const own = database as ServiceDatabase<GraphTables>;
  return createGraphConsumersOn({ db: own.db, schema: own.schema, bus, logger });
}
