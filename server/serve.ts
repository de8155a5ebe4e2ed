import { createIdentityAdmin } from "../companion-services/identity/admin.ts";
import { GrpcIdentityAdminClient } from "../companion-services/identity/admin-grpc-client.ts";
import { startIdentityGrpc } from "../companion-services/identity/grpc.ts";
import { GrpcIdentityClient } from "../companion-services/identity/grpc-client.ts";
import { createIdentity } from "../companion-services/identity/index.ts";
import { RemoteIdentity } from "../companion-services/identity/remote.ts";
import type { EventBus } from "../companion-services/platform/event-bus.ts";
import { readiness } from "../companion-services/platform/http/ops-listener.ts";
import type { Logger } from "../companion-services/platform/logger.ts";
import { createEventBus, startOutbox } from "../companion-services/platform/runtime.ts";
import { createNova } from "./app.ts";
import type { NovaConfig } from "./config.ts";
import { startAdminListener } from "./ops/probes.ts";
import {
  serveContent,
  serveFeed,
  serveGraph,
  serveMedia,
  serveNotifications,
  serveSearch,
} from "./serve-companions.ts";
import { openOwn, type Running } from "./serve-service.ts";

export type { Running } from "./serve-service.ts";

/**
 * What `nova serve` can run. `homeserver` is the messaging service (the Matrix front); media serves
 * `/_matrix/media/*` and `/_matrix/client/v1/media/*` on its own listener; notifications serves
 * `/pushers`, `/notifications` and `/_nova/v1/notifications*` on its own and delivers pushes; graph
 * serves `/_nova/v1/users/{userId}/follow|followers|following|social` and graph.proto; content
 * serves `/_nova/v1/posts*` and `/_nova/v1/bookmarks*` and GetPost/GetPosts/GetUserPosts over gRPC;
 * feed serves `/_nova/v1/feed*`; search serves `/_nova/v1/search` and search.proto.
 */
export const SERVE_TARGETS = [
  "all",
  "homeserver",
  "identity",
  "media",
  "notifications",
  "graph",
  "content",
  "feed",
  "search",
] as const;
export type ServeTarget = (typeof SERVE_TARGETS)[number];

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

async function serveTarget(target: ServeTarget, config: NovaConfig, logger: Logger): Promise<Running> {
  if (target === "all") return serveAll(config, logger);
  if (!config.kafkaBrokers?.length)
    throw new Error(
      `nova serve ${target} runs one service of a distributed deployment and needs KAFKA_BROKERS; use \`nova serve all\` for one process`,
    );
  const bus = createEventBus(
    config.kafkaBrokers,
    logger,
    `nova-${target}-${config.instanceId}`,
    config.kafkaNamespace,
  );
  if (target === "identity") return serveIdentity(config, logger, bus);
  if (target === "homeserver") return serveHomeserver(config, logger, bus);
  if (target === "media") return serveMedia(config, logger, bus);
  if (target === "notifications") return serveNotifications(config, logger, bus);
  if (target === "content") return serveContent(config, logger, bus);
  if (target === "graph") return serveGraph(config, logger, bus);
  if (target === "feed") return serveFeed(config, logger, bus);
  return serveSearch(config, logger, bus);
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

/** The all-in-one mode: the homeserver with identity in-process and every companion service. */
async function serveAll(config: NovaConfig, logger: Logger): Promise<Running> {
  const bus = createEventBus(config.kafkaBrokers, logger, "nova-all", config.kafkaNamespace);
  const nova = await createNova(config, { logger, bus });
  return {
    describe: { service: "all", port: nova.port, bus: bus.kind },
    databases: nova.ctx.databases,
    async close() {
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
