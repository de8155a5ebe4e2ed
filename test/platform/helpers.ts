import { randomBytes } from "node:crypto";
import * as grpc from "@grpc/grpc-js";
import pg from "pg";
import { IDENTITY_PROTO, startIdentityGrpc } from "../../companion-services/identity/grpc.ts";
import { GrpcIdentityClient } from "../../companion-services/identity/grpc-client.ts";
import { createIdentity } from "../../companion-services/identity/index.ts";
import { Databases } from "../../companion-services/platform/database.ts";
import { createLogger } from "../../companion-services/platform/logger.ts";
import { loadService } from "../../companion-services/platform/rpc/proto.ts";
import type { ServiceName } from "../../companion-services/platform/services.ts";

export const silentLogger = createLogger(process.env.NOVA_TEST_LOG ?? "silent");

/** The PostgreSQL admin URL tests create their databases from, unless told to use PGlite. */
export const pgAdminUrl = process.env.NOVA_TEST_BACKEND === "pglite" ? undefined : process.env.DATABASE_URL;

/** A fresh PostgreSQL database (dropped by the returned function). */
export async function freshPgDatabase(
  adminUrl: string,
  prefix = "nova_p",
): Promise<{ url: string; name: string; drop(): Promise<void> }> {
  const name = `${prefix}_${randomBytes(5).toString("hex")}`;
  const c = new pg.Client({ connectionString: adminUrl });
  await c.connect();
  await c.query(`CREATE DATABASE ${name}`);
  await c.end();
  const u = new URL(adminUrl);
  u.pathname = `/${name}`;
  return {
    url: u.toString(),
    name,
    async drop() {
      const a = new pg.Client({ connectionString: adminUrl });
      await a.connect();
      await a.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await a.end();
    },
  };
}

/** Opens the services' databases on fresh storage: in-memory PGlite, or a new PostgreSQL database. */
export async function openFresh(
  services: ServiceName[],
): Promise<{ databases: Databases; close(): Promise<void> }> {
  const fresh = pgAdminUrl ? await freshPgDatabase(pgAdminUrl) : undefined;
  const databases = await Databases.open(services, {
    dataDir: "memory://",
    urls: Object.fromEntries(services.map((s) => [s, fresh?.url])),
    poolSize: 5,
  });
  return {
    databases,
    async close() {
      await databases.close();
      await fresh?.drop();
    },
  };
}

export async function waitFor(
  check: () => boolean | Promise<boolean>,
  timeoutMs = 10_000,
  what = "condition",
) {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/**
 * Identity on fresh storage behind its gRPC server, with the typed client and a raw client of
 * the same contract (for calls the typed client would never make).
 */
export async function identityOverGrpc() {
  const env = await openFresh(["identity"]);
  const identity = createIdentity(env.databases.get("identity"), {
    serverName: "test.nova",
    accessTokenTtlMs: 0,
    loginFailuresPerMinute: 100,
  });
  const rpc = await startIdentityGrpc(identity, silentLogger, "127.0.0.1:0");
  const client = new GrpcIdentityClient({ address: `127.0.0.1:${rpc.port}`, deadlineMs: 3_000 });
  const Ctor = loadService(IDENTITY_PROTO.file, IDENTITY_PROTO.service);
  const raw = new Ctor(`127.0.0.1:${rpc.port}`, grpc.credentials.createInsecure());
  return {
    env,
    identity,
    client,
    raw,
    async close() {
      client.close();
      raw.close();
      await rpc.close();
      await env.close();
    },
  };
}
