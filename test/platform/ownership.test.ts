import { randomBytes } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { sql } from "kysely";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Databases } from "../../companion-services/platform/database.ts";
import {
  builtTables,
  MIGRATOR_TABLES,
  migratedServices,
  OWNERSHIP,
} from "../../companion-services/platform/ownership.ts";
import { OWNERSHIP_DOC_PATH, renderOwnershipDoc } from "../../companion-services/platform/ownership-doc.ts";
import { SERVICE_NAMES, type ServiceName } from "../../companion-services/platform/services.ts";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));

/** The production source of a service's folders, as one text. */
function codeOf(folders: string[]): string {
  return folders
    .flatMap((folder) =>
      readdirSync(path.join(ROOT, folder), { recursive: true, encoding: "utf8" })
        .filter((f) => f.endsWith(".ts"))
        .map((f) => readFileSync(path.join(ROOT, folder, f), "utf8")),
    )
    .join("\n");
}

/**
 * Whether code writes a table: a kysely write on it, a raw INSERT/UPDATE/DELETE naming it, or (for
 * the outbox and inbox the platform writes on a service's behalf) appending events / consuming them.
 */
function writes(code: string, table: string): boolean {
  if (table === "outbox_events") return /\b(appendEvents|withOutbox)\(/.test(code);
  // A consumer records what it applied only when given the service's database (`db`).
  if (table === "processed_events")
    return [...code.matchAll(/new EventConsumer\b[\s\S]*?handlers:/g)].some((m) => /\bdb\b/.test(m[0]));
  const kysely = new RegExp(`\\b(insertInto|updateTable|deleteFrom|mergeInto)\\(\\s*"${table}"`);
  const raw = new RegExp(`\\b(INSERT INTO|UPDATE|DELETE FROM)\\s+${table}\\b`, "i");
  return kysely.test(code) || raw.test(code);
}

const adminUrl = process.env.NOVA_TEST_BACKEND === "pglite" ? undefined : process.env.DATABASE_URL;

describe("ownership manifest", () => {
  it("lists every table once, under one owner", () => {
    const seen = new Map<string, string>();
    for (const s of OWNERSHIP) {
      for (const t of s.tables) {
        // outbox_events/processed_events exist once per service, in its own schema.
        if (t.name === "outbox_events" || t.name === "processed_events") continue;
        expect(seen.get(t.name), `${t.name} owned by ${seen.get(t.name)} and ${s.service}`).toBeUndefined();
        seen.set(t.name, s.service);
      }
    }
  });

  it("covers every service that has migrations, and only those", () => {
    expect(migratedServices().sort()).toEqual([...SERVICE_NAMES].sort());
  });

  it("gives every planned or dropped table a reason, and every service's seed tables a status", () => {
    for (const s of OWNERSHIP) {
      for (const t of s.tables) {
        if (t.status === "dropped") expect(t.note, t.name).toBeTruthy();
      }
    }
    // Spot checks of the seed's contradictions.
    const owner = (name: string) => OWNERSHIP.filter((s) => s.tables.some((t) => t.name === name));
    expect(owner("blocks").map((s) => s.service)).toEqual(["messaging"]);
    expect(owner("videos").map((s) => s.service)).toEqual(["media"]);
    expect(
      OWNERSHIP.find((s) => s.service === "messaging")?.tables.find((t) => t.name === "olm_sessions")?.status,
    ).toBe("dropped");
  });

  it("marks a table written exactly when its owner's code writes it, and a service running only then", () => {
    for (const s of OWNERSHIP) {
      const code = codeOf(s.code);
      const written = s.tables.filter((t) => t.status === "built" && t.written !== false);
      for (const t of s.tables.filter((t) => t.status === "built")) {
        expect(writes(code, t.name), `${s.service}.${t.name} written: ${t.written !== false}`).toBe(
          t.written !== false,
        );
      }
      expect(s.status === "running", `${s.service} is ${s.status}`).toBe(written.length > 0);
    }
  });

  it("docs/data-ownership.md is the rendering of the manifest", () => {
    expect(readFileSync(OWNERSHIP_DOC_PATH, "utf8")).toBe(renderOwnershipDoc());
  });
});

describe(`migrations against the manifest (${adminUrl ? "PostgreSQL" : "PGlite"})`, () => {
  let databases: Databases;
  let dbName: string | undefined;
  type TableRow = { schema: string; table: string };
  let tables: TableRow[] = [];
  let foreignKeys: { from_schema: string; from_table: string; to_schema: string; to_table: string }[] = [];

  beforeAll(async () => {
    let url: string | undefined;
    if (adminUrl) {
      dbName = `nova_own_${randomBytes(5).toString("hex")}`;
      const c = new pg.Client({ connectionString: adminUrl });
      await c.connect();
      await c.query(`CREATE DATABASE ${dbName}`);
      await c.end();
      const u = new URL(adminUrl);
      u.pathname = `/${dbName}`;
      url = u.toString();
    }
    const services = [...SERVICE_NAMES];
    databases = await Databases.open(services, {
      dataDir: "memory://",
      urls: Object.fromEntries(services.map((s) => [s, url])),
      poolSize: 2,
    });
    const db = databases.get<unknown>("identity").db;
    tables = (
      await sql<TableRow>`SELECT table_schema AS schema, table_name AS table FROM information_schema.tables
        WHERE table_schema NOT IN ('pg_catalog', 'information_schema') AND table_type = 'BASE TABLE'`.execute(
        db,
      )
    ).rows;
    foreignKeys = (
      await sql<{ from_schema: string; from_table: string; to_schema: string; to_table: string }>`
        SELECT fn.nspname AS from_schema, f.relname AS from_table, tn.nspname AS to_schema, t.relname AS to_table
        FROM pg_constraint c
        JOIN pg_class f ON f.oid = c.conrelid JOIN pg_namespace fn ON fn.oid = f.relnamespace
        JOIN pg_class t ON t.oid = c.confrelid JOIN pg_namespace tn ON tn.oid = t.relnamespace
        WHERE c.contype = 'f'`.execute(db)
    ).rows;
  }, 120_000);

  afterAll(async () => {
    await databases?.close();
    if (dbName && adminUrl) {
      const c = new pg.Client({ connectionString: adminUrl });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`);
      await c.end();
    }
  });

  it.each(SERVICE_NAMES.map((s) => [s]))("%s's migrations create exactly its built tables", (service) => {
    const actual = tables
      .filter((t) => t.schema === service)
      .map((t) => t.table)
      .filter((t) => !MIGRATOR_TABLES.includes(t))
      .sort();
    const expected = builtTables(service as ServiceName).sort();
    const extra = actual.filter((t) => !expected.includes(t));
    const missing = expected.filter((t) => !actual.includes(t));
    // A table here but not in the manifest: declare it in companion-services/platform/ownership.ts.
    expect({ extra, missing }).toEqual({ extra: [], missing: [] });
  });

  it("creates nothing outside the services' own schemas", () => {
    const stray = tables.filter((t) => !(SERVICE_NAMES as readonly string[]).includes(t.schema));
    expect(stray).toEqual([]);
  });

  it("has no foreign key that crosses services", () => {
    expect(foreignKeys.length).toBeGreaterThan(0);
    const crossing = foreignKeys.filter((fk) => fk.from_schema !== fk.to_schema);
    expect(crossing).toEqual([]);
    for (const fk of foreignKeys) {
      expect(builtTables(fk.from_schema as ServiceName)).toContain(fk.from_table);
      expect(builtTables(fk.to_schema as ServiceName)).toContain(fk.to_table);
    }
  });
});
