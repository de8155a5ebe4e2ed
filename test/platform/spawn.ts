import { type ChildProcess, spawn } from "node:child_process";
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
