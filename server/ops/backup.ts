import { chmodSync, existsSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import net from "node:net";
import path from "node:path";
import { gunzipSync } from "node:zlib";
import type { PGlite } from "@electric-sql/pglite";
import { ConfigError } from "../../companion-services/platform/config.ts";
import { acquireDataDirLock, readDataDirLock } from "../../companion-services/platform/data-dir-lock.ts";
import { exclusively } from "../../companion-services/platform/database/pglite-dialect.ts";
import type { Logger } from "../../companion-services/platform/logger.ts";
import type { NovaConfig } from "../config.ts";
import { OperationError } from "./operator-errors.ts";

/**
 * Backups of the embedded (PGlite) database: `nova backup <file>` and `nova restore <file>`.
 *
 * A backup is PGlite's own tarball of its data directory (dumpDataDir, gzip), taken while no
 * query or transaction runs, after a CHECKPOINT: a copy of committed data only. While a server
 * holds the data directory only that process may read the database (PGlite is single-process),
 * so the CLI asks it over a Unix socket in the data directory (`nova-ops.sock`, mode 0600):
 * whoever may open that socket may read the data files anyway, and no token or port is needed.
 */
export const OPS_SOCKET = "nova-ops.sock";
/** Longest Unix socket path Linux accepts (sun_path is 108 bytes with the terminating NUL). */
const MAX_SOCKET_PATH = 107;

/** A backup or restore refused or failed: one line for the operator. */
export class BackupError extends OperationError {}

/** One consistent copy of the embedded database, as a .tar.gz. */
export async function dumpEmbedded(pglite: PGlite): Promise<Buffer> {
  return exclusively(pglite, async () => {
    // Flushes dirty pages so the copy needs no WAL replay when restored.
    await pglite.exec("CHECKPOINT");
    const blob = await pglite.dumpDataDir("gzip");
    return Buffer.from(await blob.arrayBuffer());
  });
}

/**
 * Serves backups of this process's embedded database on `<dir>/nova-ops.sock` until closed.
 * Protocol: the client writes one JSON line `{"op":"backup"}`; the server answers one JSON line
 * (`{"ok":true,"bytes":N}` or `{"ok":false,"error":"…"}`) and then the N bytes.
 */
export async function serveOpsSocket(
  store: { pglite: PGlite; dir: string },
  logger: Logger,
): Promise<{ close(): Promise<void> }> {
  const file = path.join(store.dir, OPS_SOCKET);
  if (file.length > MAX_SOCKET_PATH) {
    logger.warn(
      { file },
      "data directory path too long for the ops socket: nova backup needs the server stopped",
    );
    return { close: async () => {} };
  }
  // We hold the data directory's lock: a socket file there is a dead process's leftover.
  rmSync(file, { force: true });
  const server = net.createServer((conn) => {
    let buf = "";
    conn.setEncoding("utf8");
    conn.on("error", () => {});
    conn.on("data", (chunk: string) => {
      buf += chunk;
      const nl = buf.indexOf("\n");
      if (nl < 0) {
        if (buf.length > 1024) conn.destroy();
        return;
      }
      conn.removeAllListeners("data");
      let op: unknown;
      try {
        op = (JSON.parse(buf.slice(0, nl)) as { op?: unknown }).op;
      } catch {
        op = undefined;
      }
      if (op !== "backup") {
        conn.end(`${JSON.stringify({ ok: false, error: "unknown operation" })}\n`);
        return;
      }
      dumpEmbedded(store.pglite).then(
        (bytes) => {
          logger.info({ bytes: bytes.length }, "backup taken for nova backup");
          conn.write(`${JSON.stringify({ ok: true, bytes: bytes.length })}\n`);
          conn.end(bytes);
        },
        (err: unknown) => {
          logger.error({ err }, "backup failed");
          conn.end(`${JSON.stringify({ ok: false, error: String(err) })}\n`);
        },
      );
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(file, () => resolve());
  });
  // Only the server's user may ask for a copy of the whole database.
  chmodSync(file, 0o600);
  return {
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
      }),
  };
}

/** Asks the server holding `dir` for a backup over its ops socket. */
function backupFromServer(dir: string, pid: number): Promise<Buffer> {
  const file = path.join(dir, OPS_SOCKET);
  return new Promise((resolve, reject) => {
    if (!existsSync(file))
      return reject(
        new BackupError(`the server (pid ${pid}) holding ${dir} offers no ops socket: stop it and retry`),
      );
    const conn = net.createConnection(file);
    const chunks: Buffer[] = [];
    conn.on("connect", () => conn.write(`${JSON.stringify({ op: "backup" })}\n`));
    conn.on("data", (c: Buffer) => chunks.push(c));
    conn.on("error", (err) =>
      reject(new BackupError(`cannot reach the server (pid ${pid}): ${err.message}`)),
    );
    conn.on("end", () => {
      const all = Buffer.concat(chunks);
      const nl = all.indexOf(10);
      if (nl < 0)
        return reject(new BackupError(`the server (pid ${pid}) closed the ops socket without answering`));
      const head = JSON.parse(all.subarray(0, nl).toString("utf8")) as {
        ok: boolean;
        bytes?: number;
        error?: string;
      };
      if (!head.ok)
        return reject(new BackupError(`the server (pid ${pid}) could not back up: ${head.error}`));
      const body = all.subarray(nl + 1);
      if (body.length !== head.bytes)
        return reject(new BackupError(`backup cut short: ${body.length} of ${head.bytes} bytes`));
      resolve(body);
    });
  });
}

/** The embedded data directory of this configuration, or a one-line refusal. */
function embeddedDir(config: NovaConfig): string {
  if (config.dataDir.startsWith("memory://"))
    throw new ConfigError("NOVA_DATA_DIR is memory://: there is no embedded database to back up or restore");
  if (Object.values(config.databaseUrls).every((u) => u !== undefined))
    throw new ConfigError(
      "every service has a PostgreSQL database URL: back them up with pg_dump (docs/operations.md), not nova backup",
    );
  return path.resolve(config.dataDir);
}

/** `nova backup <file>`: from the running server when one holds the directory, else directly. */
export async function backupCommand(file: string, config: NovaConfig): Promise<Record<string, unknown>> {
  const dir = embeddedDir(config);
  const holder = readDataDirLock(dir);
  let bytes: Buffer;
  if (holder !== null) {
    bytes = await backupFromServer(dir, holder);
  } else {
    if (!existsSync(path.join(dir, "pglite", "PG_VERSION")))
      throw new BackupError(`no embedded database in ${dir}`);
    const lock = acquireDataDirLock(dir);
    try {
      const { PGlite } = await import("@electric-sql/pglite");
      const pglite = await PGlite.create({ dataDir: path.join(dir, "pglite") });
      try {
        bytes = await dumpEmbedded(pglite);
      } finally {
        await pglite.close();
      }
    } finally {
      lock.release();
    }
  }
  // Written whole or not at all: a half-written backup must never look like one.
  const out = path.resolve(file);
  const tmp = `${out}.${process.pid}.tmp`;
  writeFileSync(tmp, bytes, { mode: 0o600 });
  renameSync(tmp, out);
  return { file: out, bytes: bytes.length, from: holder !== null ? `running server (pid ${holder})` : dir };
}

/** `nova restore <file>`: into a data directory that has no database yet and no server. */
export async function restoreCommand(file: string, config: NovaConfig): Promise<Record<string, unknown>> {
  const dir = embeddedDir(config);
  const holder = readDataDirLock(dir);
  if (holder !== null)
    throw new BackupError(`data directory ${dir} is in use by process ${holder}: stop it first`);
  const target = path.join(dir, "pglite");
  if (existsSync(target) && readdirSync(target).length > 0)
    throw new BackupError(`${target} already holds a database: restore into a fresh NOVA_DATA_DIR`);
  let bytes: Buffer;
  try {
    bytes = readFileSync(file);
  } catch (err) {
    throw new BackupError(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code}`);
  }
  // Checked before PGlite sees it: PGlite reports a bad archive from a stream nobody can catch.
  if (!looksLikeBackup(bytes))
    throw new BackupError(`${file} is not a Nova backup (a gzipped PGlite data directory)`);
  const lock = acquireDataDirLock(dir);
  try {
    // This module is loaded by every server (serveOpsSocket); PGlite only by backup and restore.
    const { PGlite } = await import("@electric-sql/pglite");
    let pglite: PGlite;
    try {
      pglite = await PGlite.create({ dataDir: target, loadDataDir: new Blob([new Uint8Array(bytes)]) });
    } catch (err) {
      rmSync(target, { recursive: true, force: true });
      throw new BackupError(`${file} could not be restored: ${String(err).split("\n")[0]}`);
    }
    try {
      const { rows } = await pglite.query<{ schema_name: string }>(
        "SELECT schema_name FROM information_schema.schemata WHERE schema_name NOT LIKE 'pg\\_%' AND schema_name NOT IN ('information_schema', 'public') ORDER BY 1",
      );
      return { restored: dir, schemas: rows.map((r) => r.schema_name) };
    } finally {
      await pglite.close();
    }
  } finally {
    lock.release();
  }
}

/** A gzipped tar (ustar magic at 257) holding a PostgreSQL data directory (PG_VERSION). */
function looksLikeBackup(bytes: Buffer): boolean {
  let tar: Buffer;
  try {
    tar = gunzipSync(bytes);
  } catch {
    return false;
  }
  return tar.subarray(257, 262).toString("latin1") === "ustar" && tar.includes("PG_VERSION");
}
