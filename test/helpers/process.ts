import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { GENEROUS_RATE_LIMITS } from "./rate-limits.ts";

export type ServerProcess = {
  baseUrl: string;
  port: number;
  /** The admin listener (/metrics, /health, /ready), on a free port unless NOVA_ADMIN_PORT says otherwise. */
  adminUrl: string | null;
  child: ChildProcess;
  dataDir: string;
  /** Lines the process printed (pino JSON), for assertions on logs. */
  output: string[];
  /** Stops the process; the data directory is removed unless `keepData` (restart tests). */
  stop(signal?: NodeJS.Signals, opts?: { keepData?: boolean }): Promise<number | null>;
};

const ROOT = path.resolve(import.meta.dirname, "../..");

/** `npm start`'s node arguments (its flags, then the entry point), read from package.json. */
function startArgs(): string[] {
  const pkg = JSON.parse(readFileSync(path.join(ROOT, "package.json"), "utf8")) as {
    scripts: { start: string };
  };
  const [bin, ...args] = pkg.scripts.start.split(/\s+/);
  if (bin !== "node") throw new Error(`package.json start script no longer runs node: ${pkg.scripts.start}`);
  return args;
}

/**
 * The runner's environment without database URLs: a child server gets a database only when the
 * test hands it one, so it never writes into the runner's admin database.
 */
export function backendFreeEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const k of Object.keys(env)) if (k === "DATABASE_URL" || k.endsWith("_DATABASE_URL")) delete env[k];
  return env;
}

/**
 * Starts the server the way `npm start` does (same node flags and entry point) as a child process
 * on a free port with its own data directory, and resolves once it logs that it listens.
 */
export async function startServerProcess(
  env: Record<string, string> = {},
  opts: { dataDir?: string; nodeArgs?: string[] } = {},
): Promise<ServerProcess> {
  const dataDir = opts.dataDir ?? mkdtempSync(path.join(tmpdir(), "nova-e2e-"));
  // NOVA_SERVER_NODE_ARGS: extra node flags for the server only (e.g. --cpu-prof when profiling a bench).
  const nodeArgs = [
    ...(process.env.NOVA_SERVER_NODE_ARGS ?? "").split(" ").filter(Boolean),
    ...(opts.nodeArgs ?? []),
  ];
  const child = spawn(process.execPath, [...nodeArgs, ...startArgs()], {
    cwd: ROOT,
    env: {
      ...backendFreeEnv(),
      ...GENEROUS_RATE_LIMITS,
      NOVA_PORT: "0",
      NOVA_ADMIN_PORT: "0",
      NOVA_DATA_DIR: dataDir,
      NOVA_LOG_LEVEL: "info",
      ...env,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const output: string[] = [];
  let adminPort: number | null = null;
  const port = await new Promise<number>((resolve, reject) => {
    // A server that does not start in time is killed, not left running without a test to stop it.
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`server did not start: ${output.join("\n")}`));
    }, 60_000);
    let buf = "";
    const onData = (d: Buffer) => {
      buf += d.toString();
      let i = buf.indexOf("\n");
      while (i >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        output.push(line);
        try {
          const j = JSON.parse(line) as { msg?: string; port?: number };
          if (j.msg?.startsWith("admin listener") && j.port) adminPort = j.port;
          if (j.msg === "nova listening" && j.port) {
            clearTimeout(timer);
            resolve(j.port);
          }
        } catch {
          // not a log line
        }
        i = buf.indexOf("\n");
      }
    };
    child.stdout!.on("data", onData);
    child.stderr!.on("data", (d: Buffer) => output.push(d.toString()));
    child.on("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`server exited with ${code}: ${output.join("\n")}`));
    });
  });
  return {
    baseUrl: `http://127.0.0.1:${port}`,
    port,
    adminUrl: adminPort === null ? null : `http://127.0.0.1:${adminPort}`,
    child,
    dataDir,
    output,
    async stop(signal: NodeJS.Signals = "SIGTERM", stopOpts: { keepData?: boolean } = {}) {
      let code = child.exitCode;
      if (code === null) {
        const exited = new Promise<number | null>((r) => child.once("exit", (c) => r(c)));
        child.kill(signal);
        code = await exited;
      }
      if (!stopOpts.keepData) rmSync(dataDir, { recursive: true, force: true });
      return code;
    },
  };
}

export { freshDatabase } from "./database.ts";
