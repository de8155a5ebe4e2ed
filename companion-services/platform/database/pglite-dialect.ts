import type { PGlite, Transaction } from "@electric-sql/pglite";
import {
  type CompiledQuery,
  type DatabaseConnection,
  type DatabaseIntrospector,
  type Dialect,
  type DialectAdapter,
  type Driver,
  type Kysely,
  PostgresAdapter,
  PostgresIntrospector,
  PostgresQueryCompiler,
  type QueryCompiler,
  type QueryResult,
  type TransactionSettings,
} from "kysely";

/**
 * Kysely on the embedded PGlite. PGlite is one connection, shared by every service in the process:
 * each acquisition takes it exclusively (a transaction holds it until commit) and points
 * `search_path` at the acquiring service's schema.
 */
export class PgliteDialect implements Dialect {
  constructor(
    private readonly pglite: PGlite,
    private readonly schema: string,
  ) {}
  createAdapter(): DialectAdapter {
    return new PostgresAdapter();
  }
  createDriver(): Driver {
    return new PgliteDriver(this.pglite, this.schema);
  }
  createIntrospector(db: Kysely<unknown>): DatabaseIntrospector {
    return new PostgresIntrospector(db);
  }
  createQueryCompiler(): QueryCompiler {
    return new PostgresQueryCompiler();
  }
}

/** Serialises access to the shared instance across every service's driver. */
const locks = new WeakMap<PGlite, Mutex>();
/** Which schema the shared instance's search_path points at now. */
const currentSchema = new WeakMap<PGlite, string>();

/**
 * Runs `fn` while no service's query or transaction holds the shared instance: a physical copy
 * taken inside it (nova backup) sees only committed transactions.
 */
export async function exclusively<T>(pglite: PGlite, fn: () => Promise<T>): Promise<T> {
  const release = await mutexOf(pglite).acquire();
  try {
    return await fn();
  } finally {
    release();
  }
}

function mutexOf(pglite: PGlite): Mutex {
  let m = locks.get(pglite);
  if (!m) {
    m = new Mutex();
    locks.set(pglite, m);
  }
  return m;
}

class Mutex {
  private tail: Promise<void> = Promise.resolve();
  acquire(): Promise<() => void> {
    let release!: () => void;
    const next = new Promise<void>((r) => {
      release = r;
    });
    const ready = this.tail.then(() => release);
    this.tail = this.tail.then(() => next);
    return ready;
  }
}

class PgliteDriver implements Driver {
  private readonly mutex: Mutex;
  private readonly releases = new WeakMap<DatabaseConnection, () => void>();
  constructor(
    private readonly pglite: PGlite,
    private readonly schema: string,
  ) {
    this.mutex = mutexOf(pglite);
  }
  async init(): Promise<void> {}
  async acquireConnection(): Promise<DatabaseConnection> {
    const release = await this.mutex.acquire();
    try {
      if (currentSchema.get(this.pglite) !== this.schema) {
        await this.pglite.exec(`SET search_path TO "${this.schema}"`);
        currentSchema.set(this.pglite, this.schema);
      }
    } catch (err) {
      release();
      throw err;
    }
    const conn = new PgliteConnection(this.pglite);
    this.releases.set(conn, release);
    return conn;
  }
  async beginTransaction(conn: DatabaseConnection, settings: TransactionSettings): Promise<void> {
    const iso = settings.isolationLevel ? ` ISOLATION LEVEL ${settings.isolationLevel.toUpperCase()}` : "";
    await (conn as PgliteConnection).exec(`BEGIN${iso}`);
  }
  async commitTransaction(conn: DatabaseConnection): Promise<void> {
    await (conn as PgliteConnection).exec("COMMIT");
  }
  async rollbackTransaction(conn: DatabaseConnection): Promise<void> {
    await (conn as PgliteConnection).exec("ROLLBACK");
  }
  async releaseConnection(conn: DatabaseConnection): Promise<void> {
    const release = this.releases.get(conn);
    this.releases.delete(conn);
    release?.();
  }
  async destroy(): Promise<void> {}
}

class PgliteConnection implements DatabaseConnection {
  constructor(private readonly pglite: PGlite | Transaction) {}
  async exec(text: string): Promise<void> {
    await this.pglite.exec(text);
  }
  async executeQuery<R>(compiled: CompiledQuery): Promise<QueryResult<R>> {
    const result = await this.pglite.query<R>(compiled.sql, compiled.parameters as unknown[]);
    const affected = result.affectedRows;
    return {
      rows: result.rows,
      ...(affected !== undefined ? { numAffectedRows: BigInt(affected) } : {}),
    };
  }
  // biome-ignore lint/correctness/useYield: PGlite has no cursors; streaming is not offered.
  async *streamQuery<R>(): AsyncIterableIterator<QueryResult<R>> {
    throw new Error("streaming queries are not supported on PGlite");
  }
}
