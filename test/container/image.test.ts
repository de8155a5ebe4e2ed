import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  dropServiceRoles,
  type ProvisionOptions,
  provisionServiceRoles,
} from "../../companion-services/platform/roles.ts";
import { freePort } from "../platform/spawn.ts";
import { type ComposeService, interpolate, localEnv, readCompose } from "./compose-env.ts";
import { readDockerfile } from "./dockerfile.ts";
import { healthcheck, type Started, start, untilHealthy } from "./processes.ts";
import { npmRunBuild, ROOT, runtimeDir } from "./runtime-dir.ts";

/**
 * The image without a Docker engine: `npm run build`, then the Dockerfile's own CMD and
 * HEALTHCHECK (read from the Dockerfile, not copied here) in a folder laid out as the image's /app
 * with only the production dependencies, on a fresh data dir; then docker-compose.yml's services
 * from the same build.
 */
const image = readDockerfile(path.join(ROOT, "Dockerfile"));

beforeAll(() => npmRunBuild(), 300_000);

describe("the Dockerfile's CMD, outside Docker", () => {
  let app: string;
  let dataDir: string;
  let server: Started;
  let env: Record<string, string>;
  let base: string;

  beforeAll(async () => {
    app = runtimeDir();
    dataDir = mkdtempSync(path.join(tmpdir(), "nova-image-data-"));
    const port = await freePort();
    env = {
      PATH: process.env.PATH ?? "",
      HOME: process.env.HOME ?? "/tmp",
      ...image.env,
      // The image's 0.0.0.0 is the container's own interface; on this machine, loopback only.
      NOVA_HOST: "127.0.0.1",
      NOVA_PORT: String(port),
      NOVA_DATA_DIR: dataDir,
      NOVA_LOG_LEVEL: "warn",
    };
    base = `http://127.0.0.1:${port}`;
    server = start(image.cmd!, app, env);
    await untilHealthy("CMD", () => healthcheck(image.healthcheck!, app, env), server);
  }, 180_000);
  afterAll(async () => {
    await server?.stop();
    rmSync(app, { recursive: true, force: true });
    rmSync(dataDir, { recursive: true, force: true });
  });

  it("is the built server under node, without tsx, as a non-root user", () => {
    expect(image.cmd).toContain("dist/server/main.js");
    expect(image.cmd![0]).toBe("node");
    expect(image.cmd!.join(" ")).not.toMatch(/tsx|\.ts\b/);
    expect(image.user).not.toMatch(/^(root|0)$/);
    expect(image.volumes).toContain(image.env.NOVA_DATA_DIR);
    expect(image.stopsignal).toBe("SIGTERM");
  });

  it("answers /health and /_matrix/client/versions", async () => {
    const health = await fetch(`${base}/health`);
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({ status: "ok" });
    const versions = await fetch(`${base}/_matrix/client/versions`);
    expect(versions.status).toBe(200);
    expect((await versions.json()).versions).toContain("v1.11");
  });

  it("migrated the fresh data dir: a wrong password is a Matrix 403, not a missing table", async () => {
    const r = await fetch(`${base}/_matrix/client/v3/login`, {
      method: "POST",
      body: JSON.stringify({
        type: "m.login.password",
        identifier: { type: "m.id.user", user: "nobody" },
        password: "not it",
      }),
    });
    expect(r.status).toBe(403);
    expect((await r.json()).errcode).toBe("M_FORBIDDEN");
  });

  it("exits 0 on SIGTERM, and the HEALTHCHECK then fails", async () => {
    expect(await server.stop()).toBe(0);
    expect(healthcheck(image.healthcheck!, app, env)).not.toBe(0);
  });
});

/**
 * docker-compose.yml's Nova services as processes from the same build: each service's `command`,
 * environment (ports, databases and Kafka moved to this machine's, compose-env.ts) and
 * healthcheck (the compose one, or the Dockerfile's where the service keeps it), started in the
 * order its `depends_on` conditions give. Needs PostgreSQL (DATABASE_URL, an admin URL) and Kafka
 * (KAFKA_BROKERS), as CI has.
 */
const backends = process.env.DATABASE_URL && process.env.KAFKA_BROKERS;
if (!backends && process.env.CI) throw new Error("image.test: CI needs DATABASE_URL and KAFKA_BROKERS");
if (!backends) console.log("image.test: compose services skipped, needs DATABASE_URL and KAFKA_BROKERS");

describe.skipIf(!backends)("docker-compose.yml's Nova services, outside Docker", () => {
  const compose = readCompose(path.join(ROOT, "docker-compose.yml"));
  const nova = Object.entries(compose.services).filter(([, s]) => s.build);
  const roles: ProvisionOptions = {
    adminUrl: process.env.DATABASE_URL!,
    prefix: `nova_c${randomBytes(4).toString("hex")}`,
    services: [],
    layout: "databases",
  };
  const running = new Map<string, Started>();
  const envs = new Map<string, Record<string, string>>();
  const dirs: string[] = [];
  let app: string;
  let token = "";

  beforeAll(async () => {
    app = runtimeDir();
    roles.services = nova.flatMap(([, s]) =>
      Object.keys(s.environment ?? {})
        .filter((k) => k.endsWith("_DATABASE_URL"))
        .map((k) => k.replace(/_DATABASE_URL$/, "").toLowerCase()),
    );
    const urls = new Map((await provisionServiceRoles(roles)).map((p) => [p.service, p.url]));
    const ports = new Map<string, number>();
    for (const [name, s] of nova) {
      const dataDir = mkdtempSync(path.join(tmpdir(), `nova-compose-${name}-`));
      dirs.push(dataDir);
      envs.set(name, {
        PATH: process.env.PATH ?? "",
        HOME: process.env.HOME ?? "/tmp",
        ...(await localEnv({ ...image.env, ...s.environment }, ports, {
          databaseUrl: (svc) => urls.get(svc)!,
          kafka: process.env.KAFKA_BROKERS!,
          redis: process.env.REDIS_URL,
        })),
        NOVA_DATA_DIR: dataDir,
        NOVA_LOG_LEVEL: "warn",
        NOVA_OUTBOX_POLL_MS: "200",
      });
    }
    // Waves: a service starts once every Nova service it depends on passes its healthcheck.
    const healthy = new Set<string>();
    while (healthy.size < nova.length) {
      const wave = nova.filter(
        ([name, s]) =>
          !running.has(name) &&
          Object.keys(s.depends_on ?? {}).every((d) => healthy.has(d) || !compose.services[d]?.build),
      );
      if (wave.length === 0)
        throw new Error("docker-compose.yml: a depends_on cycle among the Nova services");
      await Promise.all(
        wave.map(async ([name, s]) => {
          const p = start(s.command!, app, envs.get(name)!);
          running.set(name, p);
          await untilHealthy(name, () => isHealthy(name, s, p), p, 180_000);
          healthy.add(name);
        }),
      );
    }
  }, 600_000);
  afterAll(async () => {
    await Promise.all([...running.values()].map((p) => p.stop()));
    await dropServiceRoles(roles);
    for (const d of [app, ...dirs]) rmSync(d, { recursive: true, force: true });
  }, 120_000);

  /** The compose healthcheck, the image's when the service keeps it, the ready line when it has none. */
  function isHealthy(name: string, s: ComposeService, p: Started): number | null | boolean {
    if (s.healthcheck?.disable) return p.output().includes('{"ready"');
    const test = s.healthcheck?.test ? s.healthcheck.test.slice(1) : image.healthcheck!;
    if (s.healthcheck?.test && s.healthcheck.test[0] !== "CMD")
      throw new Error(`${name}: healthcheck not CMD`);
    return healthcheck(test.map(interpolate), app, envs.get(name)!);
  }

  it("runs every Nova service from the build (`node dist/server/cli.js serve <service>`)", () => {
    expect(nova.map(([n]) => n).sort()).toEqual([
      "content",
      "feed",
      "graph",
      "homeserver",
      "identity",
      "media",
      "notifications",
      "search",
    ]);
    for (const [name, s] of nova)
      expect(s.command, name).toEqual(["node", "dist/server/cli.js", "serve", name]);
  });

  it("registers through the homeserver, which asks identity over gRPC", async () => {
    const r = await fetch(
      `http://127.0.0.1:${envs.get("homeserver")!.NOVA_PORT}/_matrix/client/v3/register`,
      {
        method: "POST",
        body: JSON.stringify({
          username: "ciara",
          password: "correct horse battery",
          auth: { type: "m.login.dummy" },
        }),
      },
    );
    expect(r.status).toBe(200);
    const body = (await r.json()) as { user_id: string; access_token: string };
    expect(body.user_id).toBe(`@ciara:${envs.get("homeserver")!.NOVA_SERVER_NAME}`);
    token = body.access_token;
  });

  it("answers POST /search through search's gRPC (the homeserver's SEARCH_GRPC_ADDRESS)", async () => {
    const r = await fetch(`http://127.0.0.1:${envs.get("homeserver")!.NOVA_PORT}/_matrix/client/v3/search`, {
      method: "POST",
      headers: { authorization: `Bearer ${token}` },
      body: JSON.stringify({ search_categories: { room_events: { search_term: "hello" } } }),
    });
    expect(r.status, await r.clone().text()).toBe(200);
    expect((await r.json()).search_categories.room_events.count).toBe(0);
  });

  it("stops every service with exit 0 on SIGTERM", async () => {
    // Dependents first, as `docker compose down` stops them.
    for (const name of [
      "homeserver",
      "feed",
      "content",
      "search",
      "media",
      "notifications",
      "graph",
      "identity",
    ]) {
      expect(await running.get(name)!.stop(), `${name}:\n${running.get(name)!.output()}`).toBe(0);
    }
  });
});
