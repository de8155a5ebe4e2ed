import { randomBytes } from "node:crypto";
import {
  dropServiceRoles,
  type ProvisionedService,
  type ProvisionOptions,
  provisionServiceRoles,
} from "../../companion-services/platform/roles.ts";
import { freePort, type Spawned, spawnReady } from "./spawn.ts";

export type DistributedCluster = {
  /** The homeserver's base URL (http://127.0.0.1:port). */
  baseUrl: string;
  serverName: string;
  /** identity's gRPC address (host:port). */
  grpcAddress: string;
  databases: Map<string, ProvisionedService>;
  identity: Spawned;
  homeserver: Spawned;
  /** SIGTERMs both processes, drops their databases and roles; returns their exit codes. */
  stop(): Promise<(number | null)[]>;
};

/**
 * Starts Nova in distributed mode for a test: `nova serve identity` and `nova serve homeserver` as
 * two processes, each on its own PostgreSQL database as its own role, identity over gRPC, events
 * on Kafka. Needs DATABASE_URL (an admin URL) and KAFKA_BROKERS. Use it for end-to-end tests with
 * real clients (matrix-js-sdk) against the distributed topology.
 */
export async function startDistributedCluster(opts: {
  adminUrl: string;
  kafkaBrokers: string;
  serverName?: string;
  env?: Record<string, string>;
}): Promise<DistributedCluster> {
  const serverName = opts.serverName ?? "dist.test";
  const roles: ProvisionOptions = {
    adminUrl: opts.adminUrl,
    prefix: `nova_d${randomBytes(4).toString("hex")}`,
    services: ["identity", "messaging"],
    layout: "databases",
  };
  const databases = new Map((await provisionServiceRoles(roles)).map((s) => [s.service, s]));
  const grpcAddress = `127.0.0.1:${await freePort()}`;
  const common = {
    KAFKA_BROKERS: opts.kafkaBrokers,
    // Its own topics and groups: clusters of tests running at once share one broker.
    KAFKA_NAMESPACE: roles.prefix,
    NOVA_SERVER_NAME: serverName,
    NOVA_DATA_DIR: "memory://",
    ...opts.env,
  };
  let identity: Spawned | undefined;
  try {
    identity = await spawnReady(["server/cli.ts", "serve", "identity"], {
      ...common,
      IDENTITY_DATABASE_URL: databases.get("identity")!.url,
      IDENTITY_GRPC_LISTEN: grpcAddress,
      NOVA_OUTBOX_POLL_MS: "200",
    });
    const homeserver = await spawnReady(["server/cli.ts", "serve", "homeserver"], {
      ...common,
      MESSAGING_DATABASE_URL: databases.get("messaging")!.url,
      IDENTITY_GRPC_ADDRESS: grpcAddress,
      NOVA_PORT: "0",
    });
    const id = identity;
    return {
      baseUrl: `http://127.0.0.1:${homeserver.ready.port}`,
      serverName,
      grpcAddress,
      databases,
      identity: id,
      homeserver,
      async stop() {
        const codes = [await homeserver.stop(), await id.stop()];
        await dropServiceRoles(roles);
        return codes;
      },
    };
  } catch (err) {
    await identity?.stop();
    await dropServiceRoles(roles);
    throw err;
  }
}
