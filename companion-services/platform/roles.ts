import { randomBytes } from "node:crypto";
import pg from "pg";

/**
 * Gives each service its own PostgreSQL role, so ownership is enforced by the database rather
 * than by convention. Two layouts:
 *
 * - `databases`: one database per service, owned by the service's role, with CONNECT revoked
 *   from everyone else (the production layout, `<SERVICE>_DATABASE_URL` per service);
 * - `schemas`: one shared database, one schema per service owned by its role; other roles have
 *   no USAGE on it, so reading or writing another service's table is "permission denied".
 *
 * Runs as a superuser (or a role with CREATEROLE and CREATEDB). Returns each service's URL.
 */
export type ProvisionOptions = {
  adminUrl: string;
  /** Role and database names are `<prefix>_<service>`. */
  prefix: string;
  services: readonly string[];
  layout: "databases" | "schemas";
  /** For `schemas`: the shared database (created if missing). Default `<prefix>`. */
  database?: string;
};

export type ProvisionedService = { service: string; role: string; database: string; url: string };

export async function provisionServiceRoles(o: ProvisionOptions): Promise<ProvisionedService[]> {
  assertIdent(o.prefix);
  const admin = new pg.Client({ connectionString: o.adminUrl });
  await admin.connect();
  const out: ProvisionedService[] = [];
  try {
    const shared = o.database ?? o.prefix;
    if (o.layout === "schemas") {
      assertIdent(shared);
      await createDatabase(admin, shared);
    }
    for (const service of o.services) {
      assertIdent(service);
      const role = `${o.prefix}_${service}`;
      const password = randomBytes(18).toString("base64url");
      const exists = await admin.query("SELECT 1 FROM pg_roles WHERE rolname = $1", [role]);
      if (exists.rowCount === 0) await admin.query(`CREATE ROLE "${role}" LOGIN PASSWORD '${password}'`);
      else await admin.query(`ALTER ROLE "${role}" LOGIN PASSWORD '${password}'`);
      const database = o.layout === "databases" ? role : shared;
      if (o.layout === "databases") {
        await createDatabase(admin, database, role);
        await admin.query(`REVOKE ALL ON DATABASE "${database}" FROM PUBLIC`);
        await admin.query(`GRANT CONNECT, TEMPORARY ON DATABASE "${database}" TO "${role}"`);
      } else {
        await admin.query(`GRANT CONNECT ON DATABASE "${database}" TO "${role}"`);
      }
      // The schema is the service's own: it creates its tables there and nobody else has USAGE.
      await withDatabase(o.adminUrl, database, async (c) => {
        await c.query("REVOKE ALL ON SCHEMA public FROM PUBLIC");
        await c.query(`CREATE SCHEMA IF NOT EXISTS "${service}" AUTHORIZATION "${role}"`);
        await c.query(`REVOKE ALL ON SCHEMA "${service}" FROM PUBLIC`);
      });
      const u = new URL(o.adminUrl);
      u.username = role;
      u.password = password;
      u.pathname = `/${database}`;
      out.push({ service, role, database, url: u.toString() });
    }
  } finally {
    await admin.end();
  }
  return out;
}

/** Drops what provisionServiceRoles created (tests). */
export async function dropServiceRoles(o: ProvisionOptions): Promise<void> {
  const admin = new pg.Client({ connectionString: o.adminUrl });
  await admin.connect();
  try {
    const dbs =
      o.layout === "databases" ? o.services.map((s) => `${o.prefix}_${s}`) : [o.database ?? o.prefix];
    for (const d of dbs) await admin.query(`DROP DATABASE IF EXISTS "${d}" WITH (FORCE)`);
    for (const s of o.services) {
      const role = `${o.prefix}_${s}`;
      const exists = await admin.query("SELECT 1 FROM pg_roles WHERE rolname = $1", [role]);
      if (exists.rowCount === 0) continue;
      await admin.query(`DROP OWNED BY "${role}"`).catch(() => {});
      await admin.query(`DROP ROLE IF EXISTS "${role}"`);
    }
  } finally {
    await admin.end();
  }
}

async function createDatabase(admin: pg.Client, name: string, owner?: string): Promise<void> {
  const exists = await admin.query("SELECT 1 FROM pg_database WHERE datname = $1", [name]);
  if (exists.rowCount === 0)
    await admin.query(`CREATE DATABASE "${name}"${owner ? ` OWNER "${owner}"` : ""}`);
}

async function withDatabase(adminUrl: string, database: string, fn: (c: pg.Client) => Promise<void>) {
  const u = new URL(adminUrl);
  u.pathname = `/${database}`;
  const c = new pg.Client({ connectionString: u.toString() });
  await c.connect();
  try {
    await fn(c);
  } finally {
    await c.end();
  }
}

function assertIdent(s: string): void {
  if (!/^[a-z_][a-z0-9_]{0,50}$/.test(s)) throw new Error(`not a safe identifier: ${s}`);
}
