import { randomBytes } from "node:crypto";
import pg from "pg";

/** Creates a fresh PostgreSQL database when DATABASE_URL is set; returns its URL and a dropper. */
export async function freshDatabase(): Promise<{ url: string; drop(): Promise<void> } | null> {
  const adminUrl = process.env.DATABASE_URL;
  if (!adminUrl || process.env.NOVA_TEST_BACKEND === "pglite") return null;
  const name = `nova_p_${randomBytes(6).toString("hex")}`;
  const c = new pg.Client({ connectionString: adminUrl });
  await c.connect();
  await c.query(`CREATE DATABASE ${name}`);
  await c.end();
  const u = new URL(adminUrl);
  u.pathname = `/${name}`;
  return {
    url: u.toString(),
    async drop() {
      const d = new pg.Client({ connectionString: adminUrl });
      await d.connect();
      await d.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await d.end();
    },
  };
}

/** Storage that outlives one server: a fresh PostgreSQL database (with DATABASE_URL), or a PGlite data dir. */
export async function durableStorage(
  prefix = "nova-restart-",
): Promise<{ env: Record<string, string>; cleanup: () => Promise<void> }> {
  const db = await freshDatabase();
  if (db) return { env: { DATABASE_URL: db.url }, cleanup: () => db.drop() };
  const { mkdtempSync, rmSync } = await import("node:fs");
  const { tmpdir } = await import("node:os");
  const path = await import("node:path");
  const dir = mkdtempSync(path.join(tmpdir(), prefix));
  return { env: { NOVA_DATA_DIR: dir }, cleanup: async () => rmSync(dir, { recursive: true, force: true }) };
}
