import { mkdirSync } from "node:fs";
import path from "node:path";
import type { PGlite } from "@electric-sql/pglite";
import { Kysely, PostgresDialect, sql } from "kysely";
import pg from "pg";
import { acquireDataDirLock, type DataDirLock } from "./data-dir-lock.ts";
import { PgliteDialect } from "./database/pglite-dialect.ts";
import { createFromTemplate } from "./database/pglite-template.ts";
import { migrateService } from "./migrator.ts";
import type { ServiceName } from "./services.ts";

// BIGINT (int8) comes back as a JS number: Nova's stream positions and counters stay far below 2^53.
pg.types.setTypeParser(20, (v: string) => Number(v));

export type DatabaseKind = "pglite" | "postgres";

/**
 * One service's database handle. Every query runs with `search_path` set to the service's own
 * schema, so a service sees only its own tables whether it shares a PGlite instance, shares one
 * PostgreSQL database or has a database of its own.
 */
export type ServiceDatabase<DB> = {
  service: ServiceName;
  schema: string;
  kind: DatabaseKind;
  db: Kysely<DB>;
  /** Connection string for LISTEN/NOTIFY clients; absent on PGlite. */
  url?: string;
  /** The embedded instance, for LISTEN/NOTIFY on PGlite. */
  pglite?: PGlite;
};

export type DatabaseOptions = {
  dataDir: string;
  /** Per-service URL; a service without one lives in the shared embedded PGlite. */
  urls: Partial<Record<ServiceName, string | undefined>>;
  /** Pool size per service on PostgreSQL. */
  poolSize?: number;
};

/** Opens (and migrates) the databases of the services this process runs. */
export class Databases {
  private pglite: PGlite | null = null;
  private lock: DataDirLock | null = null;
  private readonly handles = new Map<ServiceName, ServiceDatabase<unknown>>();

  private constructor(private readonly options: DatabaseOptions) {}

  static async open(services: readonly ServiceName[], options: DatabaseOptions): Promise<Databases> {
    const dbs = new Databases(options);
    for (const service of services) {
      await dbs.openService(service);
    }
    return dbs;
  }

  get<DB>(service: ServiceName): ServiceDatabase<DB> {
    const h = this.handles.get(service);
    if (!h) throw new Error(`database of service ${service} is not open in this process`);
    return h as ServiceDatabase<DB>;
  }

  has(service: ServiceName): boolean {
    return this.handles.has(service);
  }

  /**
   * The embedded instance and the data directory it holds, when a service of this process lives
   * in an on-disk PGlite (not memory://): what `nova backup` copies from a running server.
   */
  embeddedStore(): { pglite: PGlite; dir: string } | null {
    return this.pglite && this.lock ? { pglite: this.pglite, dir: this.lock.dir } : null;
  }

  /** Readiness: null when every database of this process answers `SELECT 1`, else why not. */
  async ping(): Promise<string | null> {
    if (this.handles.size === 0) return "databases closed";
    for (const h of this.handles.values()) {
      try {
        await sql`SELECT 1`.execute(h.db);
      } catch (err) {
        return `${h.service} database: ${(err as Error).message}`;
      }
    }
    return null;
  }

  async close(): Promise<void> {
    for (const h of this.handles.values()) {
      await h.db.destroy();
    }
    this.handles.clear();
    if (this.pglite) {
      await this.pglite.close();
      this.pglite = null;
    }
    this.lock?.release();
    this.lock = null;
  }

  private async openService(service: ServiceName): Promise<void> {
    const schema = service;
    const url = this.options.urls[service];
    let handle: ServiceDatabase<unknown>;
    if (url) {
      const pool = new pg.Pool({
        connectionString: url,
        max: this.options.poolSize ?? 10,
        options: `-c search_path=${schema}`,
      });
      // An idle pooled connection that the server closes (restart, failover, DROP DATABASE … FORCE)
      // emits "error" on the pool; unhandled, that would kill the process. The pool drops the
      // client and the next query opens a new one.
      pool.on("error", () => {});
      const db = new Kysely<unknown>({ dialect: new PostgresDialect({ pool }) });
      await sql`CREATE SCHEMA IF NOT EXISTS ${sql.id(schema)}`.execute(db).catch((err: unknown) => {
        // A role without CREATE on the database may still own a schema prepared for it.
        if (!(err instanceof Error && /permission denied/.test(err.message))) throw err;
      });
      handle = { service, schema, kind: "postgres", db, url };
    } else {
      const pglite = await this.embedded();
      await pglite.exec(`CREATE SCHEMA IF NOT EXISTS "${schema}"`);
      const db = new Kysely<unknown>({ dialect: new PgliteDialect(pglite, schema) });
      handle = { service, schema, kind: "pglite", db, pglite };
    }
    await migrateService(service, handle.db);
    this.handles.set(service, handle);
  }

  private async embedded(): Promise<PGlite> {
    if (this.pglite) return this.pglite;
    const dir = this.options.dataDir;
    let dataDir: string | undefined;
    if (dir.startsWith("memory://")) {
      dataDir = undefined;
    } else {
      // One process per data directory: PGlite has no lock of its own (data-dir-lock.ts).
      this.lock = acquireDataDirLock(dir);
      dataDir = path.join(this.lock.dir, "pglite");
      mkdirSync(dataDir, { recursive: true });
    }
    try {
      // Loaded only for the embedded database: a server on PostgreSQL never reads PGlite.
      const [{ PGlite }, { pg_trgm }] = await Promise.all([
        import("@electric-sql/pglite"),
        import("@electric-sql/pglite/contrib/pg_trgm"),
      ]);
      this.pglite = await createFromTemplate((o) => PGlite.create(o), {
        dataDir,
        // One instance serves every service; 16MB keeps it near 130 MB of memory.
        postgresqlconf: ["shared_buffers = 16MB"],
        // Search's trigram index on user names (migrations/search); loaded only when created.
        extensions: { pg_trgm },
      });
    } catch (err) {
      this.lock?.release();
      this.lock = null;
      throw err;
    }
    return this.pglite;
  }
}
