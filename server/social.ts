import { type Content, createContent } from "../companion-services/content/index.ts";
import { createFeed, type Feed } from "../companion-services/feed/index.ts";
import { createGraph, type Graph } from "../companion-services/graph/index.ts";
import type { Media } from "../companion-services/media/index.ts";
import type { Databases } from "../companion-services/platform/database.ts";
import type { EventBus } from "../companion-services/platform/event-bus.ts";
import type { Router } from "../companion-services/platform/http/router.ts";
import type { Logger } from "../companion-services/platform/logger.ts";
import { startOutbox } from "../companion-services/platform/runtime.ts";
import type { NovaConfig } from "./config.ts";
import { mountOpenApi } from "./social-openapi.ts";

export type Social = { graph: Graph | null; content: Content | null; feed: Feed | null };

/**
 * The social services in the homeserver's process (npm start), each on its own database, in
 * dependency order: graph (follows), content (posts; asks graph who may see a followers-only post
 * and media what a post shows), feed (timelines; asks graph whom a reader follows and content for
 * the posts). Each hears the others only through the bus.
 */
export async function mountSocial(deps: {
  config: NovaConfig;
  logger: Logger;
  databases: Databases;
  router: Router;
  bus: () => EventBus;
  media: Media | null;
  onClose: (fn: () => Promise<void>) => void;
}): Promise<Social> {
  const { config, logger, databases, router } = deps;
  mountOpenApi(router);
  let graph: Graph | null = null;
  if (databases.has("graph")) {
    const started = createGraph(databases.get("graph"), config, deps.bus(), logger);
    started.mount(router);
    await started.start();
    deps.onClose(() => started.stop());
    graph = started;
  }
  let content: Content | null = null;
  if (databases.has("content") && deps.media) {
    const started = createContent(
      databases.get("content"),
      { media: deps.media.service, ...(graph ? { graph: graph.service } : {}) },
      deps.bus(),
      logger,
      config,
    );
    started.mount(router);
    await started.start();
    const outbox = await startOutbox(databases.get("content"), deps.bus(), logger, config.outbox);
    deps.onClose(async () => {
      await outbox.stop();
      await started.stop();
    });
    content = started;
  }
  let feed: Feed | null = null;
  if (databases.has("feed") && graph && content) {
    const started = createFeed(
      databases.get("feed"),
      { graph: graph.service, content: content.service, redisUrl: config.redisUrl },
      deps.bus(),
      logger,
      config,
    );
    started.mount(router);
    await started.start();
    deps.onClose(() => started.stop());
    feed = started;
  }
  return { graph, content, feed };
}
