import { createGraphConsumers } from "../companion-services/graph/index.ts";
import { createIdentityAdmin } from "../companion-services/identity/admin.ts";
import { GrpcIdentityAdminClient } from "../companion-services/identity/admin-grpc-client.ts";
import { startIdentityGrpc } from "../companion-services/identity/grpc.ts";
import { GrpcIdentityClient } from "../companion-services/identity/grpc-client.ts";
import { createIdentity } from "../companion-services/identity/index.ts";
import { RemoteIdentity } from "../companion-services/identity/remote.ts";
import { startMediaGrpc } from "../companion-services/media/grpc.ts";
import { createMediaFrom } from "../companion-services/media/index.ts";
import { createNotifications } from "../companion-services/notifications/index.ts";
import { Databases } from "../companion-services/platform/database.ts";
import type { EventBus } from "../companion-services/platform/event-bus.ts";
import { adminCheck } from "../companion-services/platform/http/admin-routes.ts";
import { ClientAddress } from "../companion-services/platform/http/client-ip.ts";
import { readiness } from "../companion-services/platform/http/ops-listener.ts";
import { Router } from "../companion-services/platform/http/router.ts";
import { HttpServer } from "../companion-services/platform/http/server.ts";
import type { Logger } from "../companion-services/platform/logger.ts";
import { createEventBus, startOutbox } from "../companion-services/platform/runtime.ts";
import type { ServiceName } from "../companion-services/platform/services.ts";
import { startSearchGrpc } from "../companion-services/search/grpc.ts";
import { createSearch } from "../companion-services/search/index.ts";
import { createNova } from "./app.ts";
import type { NovaConfig } from "./config.ts";
import { mountProbes, startAdminListener } from "./ops/probes.ts";

/**
 * What `nova serve` can run. `homeserver` is the messaging service (the Matrix front); media serves
 * `/_matrix/media/*` and `/_matrix/client/v1/media/*` on its own listener; notifications serves
 * `/pushers`, `/notifications` and `/_nova/v1/notifications*` on its own and delivers pushes; graph
 * has a consumer (user.registered → social_metadata).
 */
export const SERVE_TARGETS = [
  "all",
  "homeserver",
  "identity",
  "media",
  "notifications",
  "search",
  "graph",
] as const;
export type ServeTarget = (typeof SERVE_TARGETS)[number];

/**
 * Services that have a schema (migrations) and an outbox poller but no code that writes their
 * tables yet: `nova serve <one of these>` is refused. `all` still opens their schemas.
 */
export const PLANNED_SERVICES = ["content", "feed"] as const;
export type PlannedService = (typeof PLANNED_SERVICES)[number];

export function isPlannedService(s: string | undefined): s is PlannedService {
  return (PLANNED_SERVICES as readonly string[]).includes(s ?? "");
}

/** The one line `nova serve <planned>` is refused with. */
export function plannedServiceMessage(service: PlannedService): string {
  return `${service} is planned, not built: nova serve runs ${SERVE_TARGETS.join(", ")}`;
}

/**
 * The companion services `all` opens in its process beside the homeserver's own (identity,
 * messaging, media): schemas, migrations and outboxes.
 */
const COMPANIONS: ServiceName[] = ["graph", ...PLANNED_SERVICES];

export type Running = {
  describe: Record<string, unknown>;
  /** The databases this process opened (for admin tools and tests). */
  databases?: Databases;
  close(): Promise<void>;
};

/**
 * Runs one service (distributed mode: its own database via <SERVICE>_DATABASE_URL, Kafka via
 * KAFKA_BROKERS, gRPC between services) or everything in one process (`all`).
 */
export async function serve(target: ServeTarget, config: NovaConfig, logger: Logger): Promise<Running> {
  const running = await serveTarget(target, config, logger);
  // The homeserver (and `all`) start their admin listener in createNova.
  if (target === "all" || target === "homeserver") return running;
  const databases = running.databases;
  const ready = readiness({ databases: () => databases?.ping() ?? "no database" });
  const admin = await startAdminListener(config, target, logger, ready).catch(async (err: unknown) => {
    await running.close();
    throw err;
  });
  if (!admin) return running;
  return {
    ...running,
    describe: { ...running.describe, admin_port: admin.port },
    async close() {
      await running.close();
      await admin.close();
    },
  };
}

/** Readiness of a service process with a client listener: its databases answer, not draining. */
function serviceReadiness(databases: Databases, http: HttpServer) {
  return readiness({
    databases: () => databases.ping(),
    shutdown: () => (http.isDraining() ? "shutting down" : null),
  });
}

async function serveTarget(target: ServeTarget, config: NovaConfig, logger: Logger): Promise<Running> {
  if (target === "all") return serveAll(config, logger);
  if (!config.kafkaBrokers?.length)
    throw new Error(
      `nova serve ${target} runs one service of a distributed deployment and needs KAFKA_BROKERS; use \`nova serve all\` for one process`,
    );
  const bus = createEventBus(config.kafkaBrokers, logger, `nova-${target}-${config.instanceId}`);
  if (target === "identity") return serveIdentity(config, logger, bus);
  if (target === "homeserver") return serveHomeserver(config, logger, bus);
  if (target === "media") return serveMedia(config, logger, bus);
  if (target === "notifications") return serveNotifications(config, logger, bus);
  if (target === "search") return serveSearch(config, logger, bus);
  return serveCompanion(target, config, logger, bus);
}

/** Each process of a service has its own embedded database folder when it has no URL. */
function openOwn(services: ServiceName[], config: NovaConfig, dirName: string): Promise<Databases> {
  return Databases.open(services, {
    dataDir: config.dataDir.startsWith("memory://") ? config.dataDir : `${config.dataDir}/${dirName}`,
    urls: config.databaseUrls,
  });
}

async function serveIdentity(config: NovaConfig, logger: Logger, bus: EventBus): Promise<Running> {
  const databases = await openOwn(["identity"], config, "identity");
  const identity = createIdentity(databases.get("identity"), {
    serverName: config.serverName,
    accessTokenTtlMs: config.accessTokenTtlMs,
    loginFailuresPerMinute: config.loginFailuresPerMinute,
  });
  const outbox = await startOutbox(databases.get("identity"), bus, logger, config.outbox);
  // The admin service beside Identity: the homeserver's admin API reaches identity through it.
  const admin = createIdentityAdmin(databases.get("identity"), identity);
  const rpc = await startIdentityGrpc(identity, logger, config.identityGrpcListen, admin);
  return {
    describe: { service: "identity", grpc_port: rpc.port, database: databases.get("identity").kind },
    databases,
    async close() {
      await rpc.close();
      await outbox.stop();
      await bus.close();
      await databases.close();
    },
  };
}

async function serveHomeserver(config: NovaConfig, logger: Logger, bus: EventBus): Promise<Running> {
  const identityAdmin = new GrpcIdentityAdminClient({
    address: config.identityGrpcAddress,
    deadlineMs: config.rpcDeadlineMs,
  });
  const nova = await createNova(config, {
    logger,
    bus,
    remoteIdentityAdmin: identityAdmin,
    remoteIdentity: async ({ hooks, logger: log, onClose }) => {
      const grpcClient = new GrpcIdentityClient({
        address: config.identityGrpcAddress,
        deadlineMs: config.rpcDeadlineMs,
      });
      const remote = new RemoteIdentity(grpcClient, {
        cacheTtlMs: config.tokenCacheMs,
        onDeviceCreated: (userId, deviceId) => hooks.emit("deviceCreated", { userId, deviceId }),
        onDeviceRevoked: (userId, deviceId) => hooks.emit("deviceRevoked", { userId, deviceId }),
      });
      // Revocations made anywhere reach this process's token cache as device.revoked events.
      const revocations = remote.subscribeToRevocations(bus, log, config.instanceId);
      await revocations.start();
      onClose(async () => {
        await revocations.stop();
        grpcClient.close();
      });
      return remote;
    },
  });
  return {
    describe: {
      service: "homeserver",
      port: nova.port,
      identity: config.identityGrpcAddress,
      ...(nova.adminPort !== null ? { admin_port: nova.adminPort } : {}),
    },
    async close() {
      await nova.close();
      identityAdmin.close();
      await bus.close();
    },
  };
}

/**
 * Media on its own: its database, its HTTP listener for the media paths (a load balancer routes
 * `/_matrix/media/` and `/_matrix/client/v1/media/` here), its gRPC API, its outbox. Tokens are
 * checked by identity over gRPC (cached briefly, dropped at once on a device.revoked event).
 */
async function serveMedia(config: NovaConfig, logger: Logger, bus: EventBus): Promise<Running> {
  const databases = await openOwn(["media"], config, "media");
  const grpcIdentity = new GrpcIdentityClient({
    address: config.identityGrpcAddress,
    deadlineMs: config.rpcDeadlineMs,
  });
  const identity = new RemoteIdentity(grpcIdentity, { cacheTtlMs: config.tokenCacheMs });
  const revocations = identity.subscribeToRevocations(bus, logger, `media-${config.instanceId}`);
  await revocations.start();
  const media = await createMediaFrom(databases.get("media"), config, logger, identity);
  const router = new Router();
  media.mount(router);
  await media.start();
  const outbox = await startOutbox(databases.get("media"), bus, logger, config.outbox);
  const http = new HttpServer({
    router,
    logger,
    maxRequestBody: config.maxRequestBody,
    slowRequestMs: config.slowRequestMs,
    authenticate: (token) => identity.verifyToken(token),
    clientAddress: new ClientAddress(config.trustedProxies),
  });
  mountProbes(router, serviceReadiness(databases, http), identity);
  const port = await http.listen(config.media.httpHost, config.media.httpPort, {
    reusePort: config.reusePort,
  });
  const rpc = await startMediaGrpc(media.service, logger, config.media.grpcListen);
  logger.info({ port, grpc: rpc.port }, "media listening");
  return {
    describe: { service: "media", port, grpc_port: rpc.port, database: databases.get("media").kind },
    databases,
    async close() {
      await http.close();
      await rpc.close();
      await outbox.stop();
      await media.stop();
      await revocations.stop();
      grpcIdentity.close();
      await bus.close();
      await databases.close();
    },
  };
}

/**
 * Notifications on its own: its database, its HTTP listener for `/pushers`, `/notifications` and
 * `/_nova/v1/notifications` (a load balancer routes them here), its consumers of the homeserver's
 * and identity's events on Kafka, and the push delivery worker. Tokens are checked by identity
 * over gRPC, as media does.
 */
async function serveNotifications(config: NovaConfig, logger: Logger, bus: EventBus): Promise<Running> {
  const databases = await openOwn(["notifications"], config, "notifications");
  const grpcIdentity = new GrpcIdentityClient({
    address: config.identityGrpcAddress,
    deadlineMs: config.rpcDeadlineMs,
  });
  const identity = new RemoteIdentity(grpcIdentity, { cacheTtlMs: config.tokenCacheMs });
  const revocations = identity.subscribeToRevocations(bus, logger, `notifications-${config.instanceId}`);
  await revocations.start();
  const notifications = createNotifications(databases.get("notifications"), config, bus, logger);
  const router = new Router();
  notifications.mount(router);
  await notifications.start();
  const http = new HttpServer({
    router,
    logger,
    maxRequestBody: config.maxRequestBody,
    slowRequestMs: config.slowRequestMs,
    authenticate: (token) => identity.verifyToken(token),
    clientAddress: new ClientAddress(config.trustedProxies),
  });
  mountProbes(router, serviceReadiness(databases, http), identity);
  const port = await http.listen(config.notifications.httpHost, config.notifications.httpPort, {
    reusePort: config.reusePort,
  });
  logger.info({ port }, "notifications listening");
  return {
    describe: { service: "notifications", port, database: databases.get("notifications").kind },
    databases,
    async close() {
      await http.close();
      await notifications.stop();
      await revocations.stop();
      grpcIdentity.close();
      await bus.close();
      await databases.close();
    },
  };
}

/**
 * Search on its own: its database (the read model), its consumers of the identity, content and
 * homeserver topics on Kafka, its HTTP listener for `/_nova/v1/search` and the reindex admin
 * call, and its gRPC API, which the homeserver's POST /search asks (SEARCH_GRPC_ADDRESS).
 */
async function serveSearch(config: NovaConfig, logger: Logger, bus: EventBus): Promise<Running> {
  const databases = await openOwn(["search"], config, "search");
  const grpcIdentity = new GrpcIdentityClient({
    address: config.identityGrpcAddress,
    deadlineMs: config.rpcDeadlineMs,
  });
  const identity = new RemoteIdentity(grpcIdentity, { cacheTtlMs: config.tokenCacheMs });
  const revocations = identity.subscribeToRevocations(bus, logger, `search-${config.instanceId}`);
  await revocations.start();
  const search = createSearch(databases.get("search"), bus, logger, config);
  const router = new Router();
  search.mount(router, { isAdmin: adminCheck(identity) });
  await search.start();
  const http = new HttpServer({
    router,
    logger,
    maxRequestBody: config.maxRequestBody,
    slowRequestMs: config.slowRequestMs,
    authenticate: (token) => identity.verifyToken(token),
    clientAddress: new ClientAddress(config.trustedProxies),
  });
  mountProbes(router, serviceReadiness(databases, http), identity);
  const port = await http.listen(config.search.httpHost, config.search.httpPort, {
    reusePort: config.reusePort,
  });
  const rpc = await startSearchGrpc(search.service, logger, config.search.grpcListen);
  logger.info({ port, grpc: rpc.port }, "search listening");
  return {
    describe: { service: "search", port, grpc_port: rpc.port, database: databases.get("search").kind },
    databases,
    async close() {
      await http.close();
      await rpc.close();
      await search.stop();
      await revocations.stop();
      grpcIdentity.close();
      await bus.close();
      await databases.close();
    },
  };
}

/** A companion service: its own database and outbox, and the consumers it has. */
async function serveCompanion(
  service: Exclude<ServeTarget, "all" | "homeserver" | "identity" | "media" | "notifications" | "search">,
  config: NovaConfig,
  logger: Logger,
  bus: EventBus,
): Promise<Running> {
  const databases = await openOwn([service], config, service);
  const stop = await startCompanions([service], databases, bus, logger, config);
  return {
    describe: { service, database: databases.get(service).kind },
    databases,
    async close() {
      await stop();
      await bus.close();
      await databases.close();
    },
  };
}

async function startCompanions(
  services: ServiceName[],
  databases: Databases,
  bus: EventBus,
  logger: Logger,
  config: NovaConfig,
): Promise<() => Promise<void>> {
  const stops: (() => Promise<void>)[] = [];
  for (const service of services) {
    const outbox = await startOutbox(databases.get(service), bus, logger, config.outbox);
    stops.push(() => outbox.stop());
    if (service === "graph") {
      for (const c of createGraphConsumers(databases.get("graph"), bus, logger)) {
        await c.start();
        stops.push(() => c.stop());
      }
    }
  }
  return async () => {
    for (const s of stops.reverse()) await s();
  };
}

/** The all-in-one mode: the homeserver with identity in-process and every companion service. */
async function serveAll(config: NovaConfig, logger: Logger): Promise<Running> {
  const bus = createEventBus(config.kafkaBrokers, logger, "nova-all");
  // The companions get their schemas in the homeserver's embedded database (one PGlite).
  const nova = await createNova(config, { logger, bus, companions: COMPANIONS });
  const stop = await startCompanions(COMPANIONS, nova.ctx.databases, bus, logger, config);
  return {
    describe: { service: "all", port: nova.port, bus: bus.kind },
    databases: nova.ctx.databases,
    async close() {
      await stop();
      await nova.close();
      await bus.close();
    },
  };
}

export function isServeTarget(s: string | undefined): s is ServeTarget {
  return (SERVE_TARGETS as readonly string[]).includes(s ?? "");
}

/**
 * `nova serve <target>`: starts it, prints one JSON line `{"ready": …}` on stdout, and runs until
 * SIGTERM/SIGINT; then shuts down in order (stop accepting, drain, close databases).
 */
export async function serveUntilSignal(
  target: ServeTarget,
  config: NovaConfig,
  logger: Logger,
): Promise<unknown> {
  const running = await serve(target, config, logger);
  process.stdout.write(`${JSON.stringify({ ready: running.describe })}\n`);
  const signal = await new Promise<string>((resolve) => {
    process.once("SIGTERM", () => resolve("SIGTERM"));
    process.once("SIGINT", () => resolve("SIGINT"));
  });
  logger.info({ signal, target }, "shutting down");
  const force = setTimeout(() => process.exit(1), 15_000);
  force.unref();
  await running.close();
  // Client libraries may keep sockets half-closed for a while; nothing is left to do.
  setTimeout(() => process.exit(0), 500).unref();
  return { stopped: target, signal };
}
