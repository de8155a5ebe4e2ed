import { spawn } from "node:child_process";

export class ProcessError extends Error {
  constructor(
    message: string,
    readonly code: number | null,
    readonly stderr: string,
  ) {
    super(message);
    this.name = "ProcessError";
  }
}

export type RunOptions = {
  /** Kills the process (SIGTERM, then SIGKILL after `killGraceMs`). */
  signal?: AbortSignal;
  timeoutMs?: number;
  killGraceMs?: number;
};

/**
 * Runs a binary without a shell and collects its stdout; stderr's tail is kept for the error. A
 * missing binary, a non-zero exit, a timeout or an abort reject with a ProcessError: nothing here
 * throws past the caller's await.
 */
export function run(bin: string, args: string[], opts: RunOptions = {}): Promise<{ stdout: string }> {
  return new Promise((resolve, reject) => {
    const name = bin.split("/").pop() ?? bin;
    if (opts.signal?.aborted) {
      reject(new ProcessError(`${name} not started: stopping`, null, ""));
      return;
    }
    const child = spawn(bin, args, { stdio: ["ignore", "pipe", "pipe"], shell: false });
    const out: Buffer[] = [];
    let err = "";
    let why: string | null = null;
    child.stdout.on("data", (b: Buffer) => out.push(b));
    child.stderr.on("data", (b: Buffer) => {
      err = (err + b.toString("utf8")).slice(-4_000);
    });
    const kill = (reason: string) => {
      if (why !== null) return;
      why = reason;
      child.kill("SIGTERM");
      setTimeout(() => child.kill("SIGKILL"), opts.killGraceMs ?? 2_000).unref();
    };
    const onAbort = () => kill("stopped");
    opts.signal?.addEventListener("abort", onAbort, { once: true });
    const timer = opts.timeoutMs ? setTimeout(() => kill("timed out"), opts.timeoutMs) : undefined;
    const done = () => {
      opts.signal?.removeEventListener("abort", onAbort);
      if (timer) clearTimeout(timer);
    };
    child.on("error", (e: NodeJS.ErrnoException) => {
      done();
      const what = e.code === "ENOENT" ? `${bin} not found` : e.message;
      reject(new ProcessError(`${name} failed to start: ${what}`, null, err));
    });
    child.on("close", (code, sig) => {
      done();
      if (why !== null) reject(new ProcessError(`${name} ${why}`, code, err));
      else if (code === 0) resolve({ stdout: Buffer.concat(out).toString("utf8") });
      else reject(new ProcessError(`${name} exited with ${code ?? sig}: ${lastLine(err)}`, code, err));
    });
  });
}

/** The last non-empty line of a tool's stderr: usually the one that says what went wrong. */
export function lastLine(text: string): string {
  const lines = text
    .split("\n")
    .map((l) => l.trim())
    .filter(Boolean);
  return (lines[lines.length - 1] ?? "no output").slice(0, 300);
}
