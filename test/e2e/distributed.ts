import { randomBytes } from "node:crypto";
import {
  dropServiceRoles,
  type ProvisionOptions,
  provisionServiceRoles,
} from "../../companion-services/platform/roles.ts";
import type { ServiceName } from "../../companion-services/platform/services.ts";
import { pathProxy } from "../helpers/path-proxy.ts";
import { pgAdminUrl } from "../platform/helpers.ts";
import { freePort, type Spawned, spawnReady } from "../platform/spawn.ts";

/** What distributed end-to-end runs need; null when the machine lacks it (CI has both). */
export const distributedBackends =
  pgAdminUrl && process.env.KAFKA_BROKERS ? { kafka: process.env.KAFKA_BROKERS } : null;

/**
 * Identity and the homeserver (and media, when asked) as separate `nova serve` processes, each on
 * its own database as its own role, gRPC between them, events on Kafka. With media, a path
 * router in front sends `/_matrix/media/` and `/_matrix/client/v1/media/` to media and the rest to
 * the homeserver, as a load balancer would.
 */
/** The admin API paths media serves (docs/admin-api.md#media; docker-compose.yml's nginx). */
const MEDIA_ADMIN_PATHS =
  /^\/_synapse\/admin\/v1\/(media\/|users\/[^/]+\/media$|user\/[^/]+\/media\/quarantine$)/;

export async function startDistributed(opts: {
  media: boolean;
  notifications?: boolean;
  /** Content as its own process (needs media: it checks post images over media's gRPC). */
  content?: boolean;
  /** Extra environment of the notifications process (push retry settings in tests). */
  notificationsEnv?: Record<string, string>;
  /** `nova serve graph` too, behind the router for its /_nova/v1 paths. */
  graph?: boolean;
  /** `nova serve feed` (needs graph and content: it asks both over gRPC). */
  feed?: boolean;
  /** `nova serve search`; the homeserver's POST /search asks it over gRPC. */
  search?: boolean;
}): Promise<{
  /** Graph's gRPC address (with `graph`), for GrpcGraphClient. */
  graphGrpcAddress: string | null;
  baseUrl: string;
  /** A service's database (as its own role), for tests that set up what no API offers. */
  databaseUrl(service: ServiceName): string;
  stop(): Promise<void>;
  notifications: Spawned | null;
  restartNotifications(): Promise<Spawned>;
  /** With `content`: the content process, which SIGKILL may stop (its port stays for a restart). */
  content: Spawned | null;
  restartContent(): Promise<Spawned>;
}> {
  if (!distributedBackends) throw new Error("startDistributed needs DATABASE_URL and KAFKA_BROKERS");
  const roles: ProvisionOptions = {
    adminUrl: pgAdminUrl ?? "",
    prefix: `nova_e${randomBytes(4).toString("hex")}`,
    services: [
      "identity",
      "messaging",
      ...(opts.media ? (["media"] as const) : []),
      ...(opts.notifications ? (["notifications"] as const) : []),
      ...(opts.graph ? (["graph"] as const) : []),
      ...(opts.content ? (["content"] as const) : []),
      ...(opts.feed ? (["feed"] as const) : []),
      ...(opts.search ? (["search"] as const) : []),
    ],
    layout: "databases",
  };
  const dbs = new Map((await provisionServiceRoles(roles)).map((s) => [s.service, s]));
  const url = (service: ServiceName) => dbs.get(service)?.url ?? "";
  const grpcAddress = `127.0.0.1:${await freePort()}`;
  // Its own topics and consumer groups: distributed tests running at once share one broker.
  const common = {
    KAFKA_BROKERS: distributedBackends.kafka,
    KAFKA_NAMESPACE: roles.prefix,
    NOVA_DATA_DIR: "memory://",
  };
  const processes: Spawned[] = [];
  processes.push(
    await spawnReady(["server/cli.ts", "serve", "identity"], {
      ...common,
      IDENTITY_DATABASE_URL: url("identity"),
      IDENTITY_GRPC_LISTEN: grpcAddress,
    }),
  );
  const searchGrpc = `127.0.0.1:${await freePort()}`;
  const homeserver = await spawnReady(["server/cli.ts", "serve", "homeserver"], {
    ...common,
    MESSAGING_DATABASE_URL: url("messaging"),
    IDENTITY_GRPC_ADDRESS: grpcAddress,
    NOVA_PORT: "0",
    ...(opts.search ? { SEARCH_GRPC_ADDRESS: searchGrpc } : {}),
  });
  processes.push(homeserver);
  let baseUrl = `http://127.0.0.1:${homeserver.ready.port}`;
  let proxy: Awaited<ReturnType<typeof pathProxy>> | null = null;
  const routes: { prefix: string | RegExp; port: number }[] = [];
  // The notifications process keeps its port across restarts, so the path router need not change.
  const notificationsPort = opts.notifications ? await freePort() : 0;
  const spawnNotifications = () =>
    spawnReady(["server/cli.ts", "serve", "notifications"], {
      ...common,
      NOTIFICATIONS_DATABASE_URL: url("notifications"),
      IDENTITY_GRPC_ADDRESS: grpcAddress,
      NOTIFICATIONS_HTTP_PORT: String(notificationsPort),
      ...opts.notificationsEnv,
    });
  let notifications: Spawned | null = null;
  if (opts.notifications) {
    notifications = await spawnNotifications();
    for (const prefix of [
      "/_matrix/client/v3/pushers",
      "/_matrix/client/v3/notifications",
      "/_nova/v1/notifications",
    ])
      routes.push({ prefix, port: notificationsPort });
  }
  const mediaGrpc = `127.0.0.1:${await freePort()}`;
  if (opts.media) {
    const media = await spawnReady(["server/cli.ts", "serve", "media"], {
      ...common,
      MEDIA_DATABASE_URL: url("media"),
      IDENTITY_GRPC_ADDRESS: grpcAddress,
      MEDIA_HTTP_PORT: "0",
      MEDIA_GRPC_LISTEN: mediaGrpc,
    });
    processes.push(media);
    routes.push(
      { prefix: "/_matrix/media/", port: Number(media.ready.port) },
      { prefix: "/_matrix/client/v1/media/", port: Number(media.ready.port) },
      // The media admin API, as docker-compose.yml's nginx routes it.
      { prefix: MEDIA_ADMIN_PATHS, port: Number(media.ready.port) },
    );
  }
  let graphGrpcAddress: string | null = null;
  if (opts.graph) {
    graphGrpcAddress = `127.0.0.1:${await freePort()}`;
    const graph = await spawnReady(["server/cli.ts", "serve", "graph"], {
      ...common,
      GRAPH_DATABASE_URL: url("graph"),
      IDENTITY_GRPC_ADDRESS: grpcAddress,
      GRAPH_HTTP_PORT: "0",
      GRAPH_GRPC_LISTEN: graphGrpcAddress,
    });
    processes.push(graph);
    routes.push({
      prefix: /^\/_nova\/v1\/users\/[^/]+\/(follow|followers|following|social)$/,
      port: Number(graph.ready.port),
    });
  }
  const contentGrpc = `127.0.0.1:${await freePort()}`;
  const contentPort = opts.content ? await freePort() : 0;
  const spawnContent = () =>
    spawnReady(["server/cli.ts", "serve", "content"], {
      ...common,
      CONTENT_DATABASE_URL: url("content"),
      IDENTITY_GRPC_ADDRESS: grpcAddress,
      MEDIA_GRPC_ADDRESS: mediaGrpc,
      ...(graphGrpcAddress ? { GRAPH_GRPC_ADDRESS: graphGrpcAddress } : {}),
      CONTENT_HTTP_PORT: String(contentPort),
      CONTENT_GRPC_LISTEN: contentGrpc,
    });
  let content: Spawned | null = null;
  if (opts.content) {
    content = await spawnContent();
    for (const prefix of ["/_nova/v1/posts", "/_nova/v1/bookmarks", /^\/_nova\/v1\/users\/[^/]+\/posts/])
      routes.push({ prefix, port: contentPort });
  }
  if (opts.feed) {
    const feed = await spawnReady(["server/cli.ts", "serve", "feed"], {
      ...common,
      FEED_DATABASE_URL: url("feed"),
      IDENTITY_GRPC_ADDRESS: grpcAddress,
      GRAPH_GRPC_ADDRESS: graphGrpcAddress ?? "",
      CONTENT_GRPC_ADDRESS: contentGrpc,
      FEED_HTTP_PORT: "0",
      ...(process.env.REDIS_URL ? { REDIS_URL: process.env.REDIS_URL } : {}),
    });
    processes.push(feed);
    routes.push({ prefix: "/_nova/v1/feed", port: Number(feed.ready.port) });
  }
  if (opts.search) {
    const search = await spawnReady(["server/cli.ts", "serve", "search"], {
      ...common,
      SEARCH_DATABASE_URL: url("search"),
      IDENTITY_GRPC_ADDRESS: grpcAddress,
      SEARCH_HTTP_PORT: "0",
      SEARCH_GRPC_LISTEN: searchGrpc,
    });
    processes.push(search);
    routes.push({ prefix: "/_nova/v1/search", port: Number(search.ready.port) });
  }
  if (routes.length > 0) {
    proxy = await pathProxy([...routes, { prefix: "", port: Number(homeserver.ready.port) }]);
    baseUrl = `http://127.0.0.1:${proxy.port}`;
  }
  return {
    baseUrl,
    graphGrpcAddress,
    databaseUrl: url,
    get notifications() {
      return notifications;
    },
    async restartNotifications() {
      notifications = await spawnNotifications();
      return notifications;
    },
    get content() {
      return content;
    },
    async restartContent() {
      content = await spawnContent();
      return content;
    },
    async stop() {
      await proxy?.close();
      await notifications?.stop();
      await content?.stop();
      for (const p of processes.reverse()) await p.stop();
      await dropServiceRoles(roles);
    },
  };
}
