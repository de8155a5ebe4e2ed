import { readdir } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { type Kysely, type Migration, type MigrationProvider, Migrator, sql } from "kysely";
import type { ServiceName } from "./services.ts";

const MIGRATIONS_ROOT = fileURLToPath(new URL("../../migrations/", import.meta.url));

/** A migration's module: `.ts` in the source tree (tsx), `.js` in the build (dist/, `npm run build`). */
const MIGRATION_FILE = /^(\d+.*)\.(ts|js)$/;

/**
 * Reads `migrations/<service>/*.ts` (or the built `*.js`), ordered by file name. Each file
 * exports `up` (and optionally `down`) taking that service's Kysely, whose search_path is the
 * service's own schema.
 */
class ServiceMigrationProvider implements MigrationProvider {
  constructor(private readonly service: ServiceName) {}
  async getMigrations(): Promise<Record<string, Migration>> {
    const dir = path.join(MIGRATIONS_ROOT, this.service);
    const files = await migrationFiles(this.service);
    const out: Record<string, Migration> = {};
    for (const f of files) {
      const mod = (await import(pathToFileURL(path.join(dir, f)).href)) as Migration;
      // Named without the extension, so a database migrated from source is current for the build.
      out[f.replace(MIGRATION_FILE, "$1")] = mod;
    }
    return out;
  }
}

async function migrationFiles(service: ServiceName): Promise<string[]> {
  try {
    const all = await readdir(path.join(MIGRATIONS_ROOT, service));
    return all.filter((f) => MIGRATION_FILE.test(f) && !f.endsWith(".d.ts")).sort();
  } catch {
    return [];
  }
}

/**
 * True when the database has run exactly the migrations on disk. A restart then needs this one
 * query instead of the migrator's lock table, lock and the import of every migration module.
 * Anything else (a new migration, an unknown one, no migration table yet) goes to the migrator,
 * which applies or refuses as before.
 */
async function upToDate(service: ServiceName, db: Kysely<unknown>): Promise<boolean> {
  const names = (await migrationFiles(service)).map((f) => f.replace(MIGRATION_FILE, "$1"));
  let applied: string[];
  try {
    const { rows } = await sql<{
      name: string;
    }>`SELECT name FROM ${sql.table(`${service}.kysely_migration`)}`.execute(db);
    applied = rows.map((r) => r.name);
  } catch {
    return false;
  }
  const onDisk = new Set(names);
  return applied.length === onDisk.size && applied.every((n) => onDisk.has(n));
}

export async function migrateService(service: ServiceName, db: Kysely<unknown>): Promise<void> {
  if (await upToDate(service, db)) return;
  const migrator = new Migrator({
    db,
    provider: new ServiceMigrationProvider(service),
    migrationTableSchema: service,
    // Areas of one service number their migrations in ranges of their own (rooms 01xx, crypto
    // 02xx…), so a newer migration can sort before one a database already ran.
    allowUnorderedMigrations: true,
  });
  const { error, results } = await migrator.migrateToLatest();
  if (error) {
    const failed = results?.find((r) => r.status === "Error")?.migrationName;
    throw new Error(`migration ${failed ?? "?"} of service ${service} failed: ${String(error)}`);
  }
}
