import { type ChildProcess, spawn, spawnSync } from "node:child_process";

export type Started = {
  proc: ChildProcess;
  output(): string;
  /** Sends SIGTERM (the Dockerfile's STOPSIGNAL) and resolves with the exit code. */
  stop(): Promise<number | null>;
};

/** Runs an exec-form command (a Dockerfile CMD, a compose `command`) with exactly `env`. */
export function start(argv: string[], cwd: string, env: Record<string, string>): Started {
  const [cmd, ...args] = argv;
  const proc = spawn(cmd!, args, { cwd, env, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  proc.stdout?.on("data", (d: Buffer) => (out += d.toString()));
  proc.stderr?.on("data", (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => proc.once("exit", (code) => resolve(code)));
  return {
    proc,
    output: () => out,
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill("SIGTERM");
      return exited;
    },
  };
}

/** A healthcheck command's exit code, run as the engine runs it (exec form, the container's env). */
export function healthcheck(argv: string[], cwd: string, env: Record<string, string>): number | null {
  const [cmd, ...args] = argv;
  return spawnSync(cmd!, args, { cwd, env, timeout: 10_000 }).status;
}

/** Polls the healthcheck until it passes; throws with the process's output when it never does. */
export async function untilHealthy(
  name: string,
  check: () => number | null | boolean,
  p: Started,
  timeoutMs = 120_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const r = check();
    if (r === 0 || r === true) return;
    if (p.proc.exitCode !== null) throw new Error(`${name} exited with ${p.proc.exitCode}:\n${p.output()}`);
    if (Date.now() > deadline) throw new Error(`${name} not healthy in ${timeoutMs} ms:\n${p.output()}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}
