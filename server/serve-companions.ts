import { startContentGrpc } from "../companion-services/content/grpc.ts";
import { GrpcContentClient } from "../companion-services/content/grpc-client.ts";
import { createContent } from "../companion-services/content/index.ts";
import { createFeed } from "../companion-services/feed/index.ts";
import { startGraphGrpc } from "../companion-services/graph/grpc.ts";
import { GrpcGraphClient } from "../companion-services/graph/grpc-client.ts";
import { createGraph } from "../companion-services/graph/index.ts";
import { startMediaGrpc } from "../companion-services/media/grpc.ts";
import { GrpcMediaClient } from "../companion-services/media/grpc-client.ts";
import { createMediaFrom } from "../companion-services/media/index.ts";
import { createNotifications } from "../companion-services/notifications/index.ts";
import type { EventBus } from "../companion-services/platform/event-bus.ts";
import { adminCheck } from "../companion-services/platform/http/admin-routes.ts";
import type { Logger } from "../companion-services/platform/logger.ts";
import { startOutbox } from "../companion-services/platform/runtime.ts";
import { startSearchGrpc } from "../companion-services/search/grpc.ts";
import { createSearch } from "../companion-services/search/index.ts";
import type { NovaConfig } from "./config.ts";
import { type Running, serveService } from "./serve-service.ts";

/*
 * The companion services that run on their own with an HTTP listener (`nova serve <service>`),
 * each through serveService: its database, identity over gRPC for tokens, its routes, its gRPC.
 */

/**
 * Media on its own: the media paths (a load balancer routes `/_matrix/media/` and
 * `/_matrix/client/v1/media/` here), its gRPC API, its outbox.
 */
export function serveMedia(config: NovaConfig, logger: Logger, bus: EventBus): Promise<Running> {
  return serveService({
    service: "media",
    config,
    logger,
    bus,
    listen: { host: config.media.httpHost, port: config.media.httpPort },
    async build({ databases, identity }) {
      const media = await createMediaFrom(databases.get("media"), config, logger, identity);
      let outbox: Awaited<ReturnType<typeof startOutbox>> | null = null;
      return {
        mount: (router) => media.mount(router),
        async start() {
          await media.start();
          outbox = await startOutbox(databases.get("media"), bus, logger, config.outbox);
        },
        async stop() {
          await outbox?.stop();
          await media.stop();
        },
        grpc: () => startMediaGrpc(media.service, logger, config.media.grpcListen),
      };
    },
  });
}

/**
 * Notifications on its own: `/pushers`, `/notifications` and `/_nova/v1/notifications` (a load
 * balancer routes them here), its consumers of the homeserver's and identity's events on Kafka,
 * and the push delivery worker.
 */
export function serveNotifications(config: NovaConfig, logger: Logger, bus: EventBus): Promise<Running> {
  return serveService({
    service: "notifications",
    config,
    logger,
    bus,
    listen: { host: config.notifications.httpHost, port: config.notifications.httpPort },
    build: async ({ databases }) => createNotifications(databases.get("notifications"), config, bus, logger),
  });
}

/**
 * Content on its own: `/_nova/v1/posts*`, `/_nova/v1/users/{userId}/posts` and
 * `/_nova/v1/bookmarks*` (a load balancer routes them here), its gRPC API (GetPost, GetPosts,
 * GetUserPosts), its outbox and its counts consumer. Post media are checked against media, and
 * who may see a followers-only post against graph, over gRPC.
 */
export function serveContent(config: NovaConfig, logger: Logger, bus: EventBus): Promise<Running> {
  return serveService({
    service: "content",
    config,
    logger,
    bus,
    listen: { host: config.content.httpHost, port: config.content.httpPort },
    async build({ databases }) {
      const media = new GrpcMediaClient({
        address: config.media.grpcAddress,
        deadlineMs: config.rpcDeadlineMs,
      });
      const graph = new GrpcGraphClient({
        address: config.graph.grpcAddress,
        deadlineMs: config.rpcDeadlineMs,
      });
      const content = createContent(databases.get("content"), { media, graph }, bus, logger, config);
      let outbox: Awaited<ReturnType<typeof startOutbox>> | null = null;
      return {
        mount: (router) => content.mount(router),
        async start() {
          await content.start();
          outbox = await startOutbox(databases.get("content"), bus, logger, config.outbox);
        },
        async stop() {
          await outbox?.stop();
          await content.stop();
          media.close();
          graph.close();
        },
        grpc: () => startContentGrpc(content.service, logger, config.content.grpcListen),
      };
    },
  });
}

/**
 * Graph on its own: `/_nova/v1/users/{userId}/follow|followers|following|social`, graph.proto,
 * its consumers of identity's and messaging's events and of its own follow events (the counts),
 * and its outbox.
 */
export function serveGraph(config: NovaConfig, logger: Logger, bus: EventBus): Promise<Running> {
  return serveService({
    service: "graph",
    config,
    logger,
    bus,
    listen: { host: config.graph.httpHost, port: config.graph.httpPort },
    async build({ databases }) {
      const graph = createGraph(databases.get("graph"), config, bus, logger);
      return {
        mount: (router) => graph.mount(router),
        start: () => graph.start(),
        stop: () => graph.stop(),
        grpc: () => startGraphGrpc(graph.service, logger, config.graph.grpcListen),
      };
    },
  });
}

/**
 * Feed on its own: `/_nova/v1/feed*`, its consumers of content's and graph's events, timelines in
 * Redis (REDIS_URL; required with more than one feed process, each of which hears only some
 * partitions). Whom a reader follows comes from graph, the posts from content, over gRPC.
 */
export function serveFeed(config: NovaConfig, logger: Logger, bus: EventBus): Promise<Running> {
  return serveService({
    service: "feed",
    config,
    logger,
    bus,
    listen: { host: config.feed.httpHost, port: config.feed.httpPort },
    async build({ databases }) {
      const graph = new GrpcGraphClient({
        address: config.graph.grpcAddress,
        deadlineMs: config.rpcDeadlineMs,
      });
      const content = new GrpcContentClient({
        address: config.content.grpcAddress,
        deadlineMs: config.rpcDeadlineMs,
      });
      const feed = createFeed(
        databases.get("feed"),
        { graph, content, redisUrl: config.redisUrl },
        bus,
        logger,
        config,
      );
      return {
        mount: (router) => feed.mount(router),
        start: () => feed.start(),
        async stop() {
          await feed.stop();
          graph.close();
          content.close();
        },
      };
    },
  });
}

/**
 * Search on its own: its read model, its consumers of the identity, content and homeserver
 * topics, `/_nova/v1/search` and the reindex admin call, and its gRPC API, which the homeserver's
 * POST /search asks (SEARCH_GRPC_ADDRESS).
 */
export function serveSearch(config: NovaConfig, logger: Logger, bus: EventBus): Promise<Running> {
  return serveService({
    service: "search",
    config,
    logger,
    bus,
    listen: { host: config.search.httpHost, port: config.search.httpPort },
    async build({ databases, identity }) {
      const search = createSearch(databases.get("search"), bus, logger, config);
      return {
        mount: (router) => search.mount(router, { isAdmin: adminCheck(identity) }),
        start: () => search.start(),
        stop: () => search.stop(),
        grpc: () => startSearchGrpc(search.service, logger, config.search.grpcListen),
      };
    },
  });
}
