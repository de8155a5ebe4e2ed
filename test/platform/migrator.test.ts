import { readdirSync } from "node:fs";
import path from "node:path";
import { sql } from "kysely";
import { afterEach, describe, expect, it } from "vitest";
import { migrateService } from "../../companion-services/platform/migrator.ts";
import { openFresh } from "./helpers.ts";

const identityMigrations = readdirSync(path.resolve(import.meta.dirname, "../../migrations/identity"))
  .filter((f) => /^\d+.*\.ts$/.test(f))
  .map((f) => f.replace(/\.ts$/, ""))
  .sort();

type Opened = Awaited<ReturnType<typeof openFresh>>;
let opened: Opened | null = null;
afterEach(async () => {
  await opened?.close();
  opened = null;
});

async function applied(o: Opened): Promise<string[]> {
  const { rows } = await sql<{
    name: string;
  }>`SELECT name FROM identity.kysely_migration ORDER BY name`.execute(o.databases.get("identity").db);
  return rows.map((r) => r.name);
}

describe("migrateService on a database that has run them", () => {
  it("is a no-op once every migration on disk is recorded", async () => {
    opened = await openFresh(["identity"]);
    expect(await applied(opened)).toEqual(identityMigrations);
    await migrateService("identity", opened.databases.get("identity").db);
    expect(await applied(opened)).toEqual(identityMigrations);
  });

  it("still refuses a database that ran a migration this code does not have", async () => {
    opened = await openFresh(["identity"]);
    const db = opened.databases.get("identity").db;
    await sql`INSERT INTO identity.kysely_migration (name, timestamp) VALUES ('9999_from_the_future', now()::text)`.execute(
      db,
    );
    await expect(migrateService("identity", db)).rejects.toThrow(/9999_from_the_future/);
  });

  it("runs a migration that is on disk but not recorded", async () => {
    opened = await openFresh(["identity"]);
    const db = opened.databases.get("identity").db;
    const last = identityMigrations.at(-1)!;
    await sql`DELETE FROM identity.kysely_migration WHERE name = ${last}`.execute(db);
    // The migrator, not the shortcut, sees it: it runs it again (and its DDL meets its own tables).
    await expect(migrateService("identity", db)).rejects.toThrow(new RegExp(last));
  });
});
