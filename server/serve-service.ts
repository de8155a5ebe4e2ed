import { GrpcIdentityClient } from "../companion-services/identity/grpc-client.ts";
import { RemoteIdentity } from "../companion-services/identity/remote.ts";
import { Databases } from "../companion-services/platform/database.ts";
import type { EventBus } from "../companion-services/platform/event-bus.ts";
import { ClientAddress } from "../companion-services/platform/http/client-ip.ts";
import { readiness } from "../companion-services/platform/http/ops-listener.ts";
import { Router } from "../companion-services/platform/http/router.ts";
import { HttpServer } from "../companion-services/platform/http/server.ts";
import type { Logger } from "../companion-services/platform/logger.ts";
import type { ServiceName } from "../companion-services/platform/services.ts";
import type { NovaConfig } from "./config.ts";
import { mountProbes } from "./ops/probes.ts";

export type Running = {
  describe: Record<string, unknown>;
  /** The databases this process opened (for admin tools and tests). */
  databases?: Databases;
  close(): Promise<void>;
};

/** Each process of a service has its own embedded database folder when it has no URL. */
export function openOwn(services: ServiceName[], config: NovaConfig, dirName: string): Promise<Databases> {
  return Databases.open(services, {
    dataDir: config.dataDir.startsWith("memory://") ? config.dataDir : `${config.dataDir}/${dirName}`,
    urls: config.databaseUrls,
  });
}

/** What a service brings to its process: routes, its own start and stop, optionally a gRPC API. */
export type ServiceParts = {
  mount(router: Router): void;
  start(): Promise<void>;
  stop(): Promise<void>;
  /** Started after the HTTP listener; closed before the service stops. */
  grpc?: () => Promise<{ port: number; close(): Promise<void> }>;
};

/**
 * A companion service on its own (`nova serve <service>`): its database, its HTTP listener for
 * the paths a load balancer routes to it, and its gRPC API when it has one. Tokens are checked by
 * identity over gRPC, cached briefly and dropped at once on a device.revoked event.
 */
export async function serveService(opts: {
  service: ServiceName;
  config: NovaConfig;
  logger: Logger;
  bus: EventBus;
  listen: { host: string; port: number };
  build(ctx: { databases: Databases; identity: RemoteIdentity }): Promise<ServiceParts>;
}): Promise<Running> {
  const { service, config, logger, bus } = opts;
  const databases = await openOwn([service], config, service);
  const grpcIdentity = new GrpcIdentityClient({
    address: config.identityGrpcAddress,
    deadlineMs: config.rpcDeadlineMs,
  });
  const identity = new RemoteIdentity(grpcIdentity, { cacheTtlMs: config.tokenCacheMs });
  const revocations = identity.subscribeToRevocations(bus, logger, `${service}-${config.instanceId}`);
  await revocations.start();
  const parts = await opts.build({ databases, identity });
  const router = new Router();
  parts.mount(router);
  await parts.start();
  const http = new HttpServer({
    router,
    logger,
    maxRequestBody: config.maxRequestBody,
    slowRequestMs: config.slowRequestMs,
    authenticate: (token) => identity.verifyToken(token),
    clientAddress: new ClientAddress(config.trustedProxies),
  });
  const ready = readiness({
    databases: () => databases.ping(),
    shutdown: () => (http.isDraining() ? "shutting down" : null),
  });
  mountProbes(router, ready, identity);
  const port = await http.listen(opts.listen.host, opts.listen.port, { reusePort: config.reusePort });
  const rpc = parts.grpc ? await parts.grpc() : null;
  logger.info({ port, ...(rpc ? { grpc: rpc.port } : {}) }, `${service} listening`);
  return {
    describe: {
      service,
      port,
      ...(rpc ? { grpc_port: rpc.port } : {}),
      database: databases.get(service).kind,
    },
    databases,
    async close() {
      await http.close();
      await rpc?.close();
      await parts.stop();
      await revocations.stop();
      grpcIdentity.close();
      await bus.close();
      await databases.close();
    },
  };
}
