import {
  closeSync,
  linkSync,
  mkdirSync,
  openSync,
  readFileSync,
  statSync,
  unlinkSync,
  writeSync,
} from "node:fs";
import path from "node:path";
import { ConfigError } from "./config.ts";

/**
 * The exclusive lock on an embedded (PGlite) data directory: `<dir>/nova.lock` holds the pid of
 * the process that has the database open. PGlite has no lock of its own, so two processes on one
 * directory would both write it (and corrupt it); the admin CLI uses `readDataDirLock` to learn
 * that a server holds the directory and must be asked over its API instead.
 */
export const LOCK_FILE = "nova.lock";

/** A second process on a data directory another live process holds. */
export class DataDirLockedError extends Error {
  constructor(
    readonly dir: string,
    readonly pid: number,
  ) {
    super(`data directory ${dir} is in use by process ${pid} (lock file ${path.join(dir, LOCK_FILE)})`);
    this.name = "DataDirLockedError";
  }
}

export type DataDirLock = { dir: string; release(): void };

/** Locks this process holds, by resolved directory: a lock naming our own pid is ours only if listed here. */
const held = new Set<string>();

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: the process exists but belongs to someone else; it still holds the directory.
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

function readPid(file: string): number | null {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw err;
  }
  const pid = Number.parseInt(text.trim().split(/\s/)[0] ?? "", 10);
  // An empty or garbled file (a crash between create and write) holds nothing.
  return Number.isInteger(pid) && pid > 0 ? pid : null;
}

/**
 * The pid of the live process holding `dir`, or null when no process does (no lock file, or a
 * stale one left by a process that died). For the CLI: non-null means "talk to the server".
 */
export function readDataDirLock(dir: string): number | null {
  const resolved = path.resolve(dir);
  const pid = readPid(path.join(resolved, LOCK_FILE));
  if (pid === null) return null;
  // Our own pid is a holder only if this process took the lock (a container restarts as pid 1
  // and finds the lock its previous life left).
  if (pid === process.pid) return held.has(resolved) ? pid : null;
  return isAlive(pid) ? pid : null;
}

/**
 * Ensures `dir` is a directory we can use, one clear line otherwise (a file there would
 * surface as a raw ENOTDIR from deep inside PGlite).
 */
export function ensureDataDir(dir: string): string {
  const resolved = path.resolve(dir);
  let stat: ReturnType<typeof statSync> | undefined;
  try {
    stat = statSync(resolved);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOTDIR")
      throw new ConfigError(`NOVA_DATA_DIR: a parent of ${resolved} is not a directory`);
    if (code !== "ENOENT") throw new ConfigError(`NOVA_DATA_DIR: cannot use ${resolved} (${code})`);
  }
  if (stat && !stat.isDirectory()) throw new ConfigError(`NOVA_DATA_DIR: ${resolved} is not a directory`);
  try {
    mkdirSync(resolved, { recursive: true });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new ConfigError(`NOVA_DATA_DIR: cannot create ${resolved} (${code})`);
  }
  return resolved;
}

/**
 * Takes the exclusive lock on `dir` (created if missing) or throws DataDirLockedError naming the
 * live holder. A stale lock (its pid is dead) is taken over. The lock file is created with
 * link(2), which fails atomically if it exists, so two starting processes cannot both win.
 */
export function acquireDataDirLock(dir: string): DataDirLock {
  const resolved = ensureDataDir(dir);
  const file = path.join(resolved, LOCK_FILE);
  if (held.has(resolved)) throw new DataDirLockedError(resolved, process.pid);
  const tmp = `${file}.${process.pid}.tmp`;
  const fd = openSync(tmp, "w", 0o644);
  try {
    writeSync(fd, `${process.pid}\n`);
  } finally {
    closeSync(fd);
  }
  try {
    for (let attempt = 0; ; attempt++) {
      try {
        linkSync(tmp, file);
        break;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== "EEXIST" || attempt >= 3) throw err;
      }
      const holder = readDataDirLock(resolved);
      if (holder !== null) throw new DataDirLockedError(resolved, holder);
      // Stale: remove it only if it still names the dead holder (another starter may have just
      // replaced it), then race for the link again.
      const stale = readPid(file);
      if (stale === null || stale === process.pid || !isAlive(stale)) {
        try {
          unlinkSync(file);
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
        }
      }
    }
  } finally {
    unlinkSync(tmp);
  }
  held.add(resolved);
  let released = false;
  return {
    dir: resolved,
    release() {
      if (released) return;
      released = true;
      held.delete(resolved);
      // Only our own lock is removed: never one a takeover put there.
      if (readPid(file) === process.pid) unlinkSync(file);
    },
  };
}
