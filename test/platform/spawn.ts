import { type ChildProcess, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { createServer } from "node:net";
import { fileURLToPath } from "node:url";
import { GENEROUS_RATE_LIMITS } from "../helpers/rate-limits.ts";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));

export type Spawned = {
  proc: ChildProcess;
  ready: Record<string, unknown>;
  output(): string;
  /** Sends the signal and waits for the exit. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
};

/**
 * Runs a TypeScript entry (`server/cli.ts serve …`, a test worker) as its own process with exactly
 * the given environment, and waits for the `{"ready": …}` line it prints on stdout.
 */
export async function spawnReady(
  args: string[],
  env: Record<string, string>,
  timeoutMs = 60_000,
): Promise<Spawned> {
  const proc = spawn(process.execPath, ["--import", "tsx", ...args], {
    cwd: ROOT,
    env: {
      PATH: process.env.PATH ?? "",
      HOME: process.env.HOME ?? "/tmp",
      NOVA_LOG_LEVEL: "warn",
      ...GENEROUS_RATE_LIMITS,
      ...env,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  proc.stderr?.on("data", (d: Buffer) => {
    out += d.toString();
  });
  const exited = new Promise<number | null>((resolve) => proc.once("exit", (code) => resolve(code)));
  const ready = await new Promise<Record<string, unknown>>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`${args.join(" ")} not ready in time:\n${out}`)),
      timeoutMs,
    );
    let buf = "";
    proc.stdout?.on("data", (d: Buffer) => {
      buf += d.toString();
      out += d.toString();
      for (const line of buf.split("\n")) {
        if (line.startsWith('{"ready"')) {
          clearTimeout(timer);
          resolve((JSON.parse(line) as { ready: Record<string, unknown> }).ready);
        }
      }
    });
    proc.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`${args.join(" ")} exited with ${code}:\n${out}`));
    });
  });
  return {
    proc,
    ready,
    output: () => out,
    async stop(signal = "SIGTERM") {
      if (proc.exitCode !== null || proc.signalCode !== null) return proc.exitCode;
      proc.kill(signal);
      return exited;
    },
  };
}

/**
 * A free port below the kernel's ephemeral range. A port from `freePort` is only free until
 * something else takes it: an outgoing connection of a process started meanwhile draws its local
 * port from that same range. For ports chosen long before their server binds them (a whole
 * compose file's at once), pick one no outgoing connection can be given.
 */
export async function freeFixedPort(taken: ReadonlySet<number> = new Set()): Promise<number> {
  const low = Number(readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8").trim().split(/\s+/)[0]);
  const from = 20_000;
  const to = Number.isFinite(low) && low > from + 1_000 ? low : 32_768;
  for (let attempt = 0; attempt < 100; attempt++) {
    const port = from + Math.floor(Math.random() * (to - from));
    if (taken.has(port)) continue;
    const ok = await new Promise<boolean>((resolve) => {
      const srv = createServer();
      srv.once("error", () => resolve(false));
      srv.listen(port, "127.0.0.1", () => srv.close(() => resolve(true)));
    });
    if (ok) return port;
  }
  throw new Error(`no free port in ${from}–${to}`);
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.listen(0, "127.0.0.1", () => {
      const a = s.address();
      const port = typeof a === "object" && a ? a.port : 0;
      s.close(() => resolve(port));
    });
    s.on("error", reject);
  });
}
