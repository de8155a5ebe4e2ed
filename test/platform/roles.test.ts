import { randomBytes } from "node:crypto";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Databases } from "../../companion-services/platform/database.ts";
import { builtTables } from "../../companion-services/platform/ownership.ts";
import {
  dropServiceRoles,
  type ProvisionedService,
  type ProvisionOptions,
  provisionServiceRoles,
} from "../../companion-services/platform/roles.ts";
import { SERVICE_NAMES, type ServiceName } from "../../companion-services/platform/services.ts";
import { pgAdminUrl } from "./helpers.ts";

const run = pgAdminUrl ? describe : describe.skip;
if (!pgAdminUrl) console.log("roles.test: skipped, needs PostgreSQL (DATABASE_URL)");

async function query(url: string, text: string): Promise<unknown> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return (await c.query(text)).rows;
  } finally {
    await c.end();
  }
}

run("each service is its own PostgreSQL role", () => {
  const prefix = `nova_r${randomBytes(4).toString("hex")}`;
  const shared: ProvisionOptions = {
    adminUrl: pgAdminUrl ?? "",
    prefix,
    services: SERVICE_NAMES,
    layout: "schemas",
  };
  const separate: ProvisionOptions = {
    ...shared,
    prefix: `${prefix}s`,
    services: ["identity", "graph"],
    layout: "databases",
  };
  let services: Map<string, ProvisionedService>;
  let databases: Databases;

  beforeAll(async () => {
    services = new Map((await provisionServiceRoles(shared)).map((s) => [s.service, s]));
    // Every service migrates its own schema, connected as its own role.
    databases = await Databases.open([...SERVICE_NAMES], {
      dataDir: "memory://",
      urls: Object.fromEntries(SERVICE_NAMES.map((s) => [s, services.get(s)?.url])),
      poolSize: 1,
    });
  }, 120_000);

  afterAll(async () => {
    await databases?.close();
    await dropServiceRoles(shared);
    await dropServiceRoles(separate);
  });

  it("each role created exactly its own tables, which it owns", async () => {
    for (const service of SERVICE_NAMES) {
      const rows = (await query(
        services.get(service)!.url,
        `SELECT tablename, tableowner FROM pg_tables WHERE schemaname = '${service}' AND tablename NOT LIKE 'kysely_%'`,
      )) as { tablename: string; tableowner: string }[];
      expect(rows.map((r) => r.tablename).sort()).toEqual(builtTables(service as ServiceName).sort());
      expect(new Set(rows.map((r) => r.tableowner))).toEqual(new Set([`${prefix}_${service}`]));
    }
  });

  it("a service writing or reading another service's table gets permission denied", async () => {
    const graph = services.get("graph")!.url;
    await expect(
      query(graph, "INSERT INTO identity.users (user_id, localpart, created_at) VALUES ('@x:y', 'x', 0)"),
    ).rejects.toThrow(/permission denied for schema identity/);
    await expect(query(graph, "SELECT * FROM identity.sessions")).rejects.toThrow(/permission denied/);
    await expect(query(graph, "DELETE FROM messaging.messages")).rejects.toThrow(/permission denied/);
    await expect(query(graph, "CREATE TABLE identity.stolen (x int)")).rejects.toThrow(/permission denied/);
    await expect(
      query(services.get("messaging")!.url, "UPDATE identity.users SET is_admin = true"),
    ).rejects.toThrow(/permission denied/);
    await expect(query(graph, "CREATE TABLE public.stray (x int)")).rejects.toThrow(/permission denied/);
    // …while its own tables are its to write.
    await query(graph, "INSERT INTO graph.follows VALUES ('@a:x', '@b:x', 0)");
    expect(await query(graph, "SELECT count(*)::int AS n FROM graph.follows")).toEqual([{ n: 1 }]);
  });

  it("with a database per service, another service's role cannot even connect", async () => {
    const [identity, graph] = await provisionServiceRoles(separate);
    const intruder = new URL(identity.url);
    intruder.username = graph.role;
    intruder.password = new URL(graph.url).password;
    await expect(query(intruder.toString(), "SELECT 1")).rejects.toThrow(/permission denied for database/);
    expect(await query(identity.url, "SELECT current_user AS u")).toEqual([{ u: identity.role }]);
  });
});
