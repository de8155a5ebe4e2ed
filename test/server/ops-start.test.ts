import { execFile, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it, vi } from "vitest";
import {
  acquireDataDirLock,
  DataDirLockedError,
  LOCK_FILE,
  readDataDirLock,
} from "../../companion-services/platform/data-dir-lock.ts";
import { main as cli } from "../../server/cli.ts";
import { backendFreeEnv, type ServerProcess, startServerProcess } from "../helpers/process.ts";

const ROOT = path.resolve(import.meta.dirname, "../..");
const dirs: string[] = [];
const tempDir = () => {
  const d = mkdtempSync(path.join(tmpdir(), "nova-ops-"));
  dirs.push(d);
  return d;
};
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** A pid that is certainly dead: a child that has already exited. */
function deadPid(): number {
  const r = spawnSync(process.execPath, ["-e", "0"]);
  return r.pid!;
}

/** Runs `npm start`'s command to its exit; returns the exit code and what it printed on stderr. */
function startToExit(env: Record<string, string>): Promise<{ code: number | null; stderr: string }> {
  const pkg = JSON.parse(readFileSync(path.join(ROOT, "package.json"), "utf8")) as {
    scripts: { start: string };
  };
  const args = pkg.scripts.start.split(/\s+/).slice(1);
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      args,
      {
        cwd: ROOT,
        env: { ...backendFreeEnv(), NOVA_PORT: "0", NOVA_LOG_LEVEL: "info", ...env },
        timeout: 60_000,
      },
      (error, _stdout, stderr) => {
        resolve({ code: error ? (typeof error.code === "number" ? error.code : null) : 0, stderr });
      },
    );
  });
}

describe("data directory lock (in process)", () => {
  it("is exclusive, names its holder, and is released", () => {
    const dir = tempDir();
    expect(readDataDirLock(dir)).toBeNull();
    const lock = acquireDataDirLock(dir);
    expect(readFileSync(path.join(dir, LOCK_FILE), "utf8").trim()).toBe(String(process.pid));
    expect(readDataDirLock(dir)).toBe(process.pid);
    expect(() => acquireDataDirLock(dir)).toThrow(DataDirLockedError);
    lock.release();
    expect(existsSync(path.join(dir, LOCK_FILE))).toBe(false);
    expect(readDataDirLock(dir)).toBeNull();
  });

  it("takes over a lock left by a dead process, and one naming its own pid from a previous life", () => {
    const dir = tempDir();
    const dead = deadPid();
    writeFileSync(path.join(dir, LOCK_FILE), `${dead}\n`);
    expect(readDataDirLock(dir)).toBeNull();
    const lock = acquireDataDirLock(dir);
    expect(readDataDirLock(dir)).toBe(process.pid);
    lock.release();
    // A container restarts as the same pid: the lock it finds is stale, not its own.
    writeFileSync(path.join(dir, LOCK_FILE), `${process.pid}\n`);
    expect(readDataDirLock(dir)).toBeNull();
    acquireDataDirLock(dir).release();
  });

  it("refuses a lock held by another live process", () => {
    const dir = tempDir();
    // The parent of this worker is alive for the whole test.
    writeFileSync(path.join(dir, LOCK_FILE), `${process.ppid}\n`);
    expect(readDataDirLock(dir)).toBe(process.ppid);
    expect(() => acquireDataDirLock(dir)).toThrow(`in use by process ${process.ppid}`);
  });

  it("keeps the admin CLI from opening a data directory a server holds", async () => {
    const dir = tempDir();
    const lock = acquireDataDirLock(dir);
    let err = "";
    const spy = vi.spyOn(process.stderr, "write").mockImplementation((c) => {
      err += String(c);
      return true;
    });
    try {
      const code = await cli(["token", "create", "--token", "t1"], {
        NOVA_DATA_DIR: dir,
        NOVA_LOG_LEVEL: "silent",
        NOVA_URL: "http://127.0.0.1:1",
      });
      expect(code).toBe(1);
    } finally {
      spy.mockRestore();
      lock.release();
    }
    expect(err.trim().split("\n")).toEqual([
      `data directory ${dir} is in use by process ${process.pid} (lock file ${path.join(dir, LOCK_FILE)}), and no server answers at http://127.0.0.1:1: set NOVA_URL to its address`,
    ]);
  });
});

describe("safe start (processes)", () => {
  let first: ServerProcess | undefined;
  afterAll(async () => {
    await first?.stop();
  });

  it("refuses a second server on the same data directory with one line naming the holder", async () => {
    const dir = tempDir();
    first = await startServerProcess({}, { dataDir: dir });
    const second = await startToExit({ NOVA_DATA_DIR: dir });
    expect(second.code).toBe(1);
    expect(second.stderr.trim().split("\n")).toEqual([
      `data directory ${dir} is in use by process ${first.child.pid} (lock file ${path.join(dir, LOCK_FILE)})`,
    ]);
    // The holder still serves.
    expect((await fetch(`${first.baseUrl}/health`)).status).toBe(200);
    expect(await first.stop("SIGTERM", { keepData: true })).toBe(0);
    first = undefined;
    expect(existsSync(path.join(dir, LOCK_FILE))).toBe(false);
  }, 120_000);

  it("starts on a data directory whose holder was killed", async () => {
    const dir = tempDir();
    const killed = await startServerProcess({}, { dataDir: dir });
    await killed.stop("SIGKILL", { keepData: true });
    expect(existsSync(path.join(dir, LOCK_FILE))).toBe(true);
    first = await startServerProcess({}, { dataDir: dir });
    expect(readDataDirLock(dir)).toBe(first.child.pid);
  }, 120_000);

  it("answers a data directory that is a file, and a bad setting, with one line and exit code 2", async () => {
    const file = path.join(tempDir(), "not-a-dir");
    writeFileSync(file, "x");
    const [onFile, badPort] = await Promise.all([
      startToExit({ NOVA_DATA_DIR: file }),
      startToExit({ NOVA_DATA_DIR: tempDir(), NOVA_PORT: "eighty" }),
    ]);
    expect(onFile).toEqual({ code: 2, stderr: `NOVA_DATA_DIR: ${file} is not a directory\n` });
    expect(badPort.code).toBe(2);
    expect(badPort.stderr).toMatch(/^invalid configuration: NOVA_PORT: [^\n]+\n$/);
  }, 120_000);

  it("answers a bad setting in the admin CLI with one line and exit code 2", async () => {
    let err = "";
    const spy = vi.spyOn(process.stderr, "write").mockImplementation((c) => {
      err += String(c);
      return true;
    });
    let code: number;
    try {
      code = await cli(["token", "create"], { NOVA_REGISTRATION: "sometimes", NOVA_LOG_LEVEL: "silent" });
    } finally {
      spy.mockRestore();
    }
    expect(code).toBe(2);
    expect(err).toMatch(/^invalid configuration: NOVA_REGISTRATION: [^\n]+\n$/);
  });
});
