import { execFile } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { vi } from "vitest";
import { main } from "../../server/cli.ts";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));

export type CliOutput = { code: number; out: string; err: string };

/** `nova <args>` as a child process (as `npm run nova -- …` runs it), with exactly this environment. */
export function cliProcess(args: string[], env: Record<string, string | undefined>): Promise<CliOutput> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ["--import", "tsx", path.join(ROOT, "server/cli.ts"), ...args],
      { cwd: ROOT, env, timeout: 60_000 },
      (error, out, err) =>
        resolve({ code: error ? (typeof error.code === "number" ? error.code : 1) : 0, out, err }),
    );
  });
}

/** The CLI's main() in this process, capturing what it prints on stdout and stderr. */
export async function cliInProcess(argv: string[], env: Record<string, string>): Promise<CliOutput> {
  let out = "";
  let err = "";
  const o = vi.spyOn(process.stdout, "write").mockImplementation((c) => {
    out += String(c);
    return true;
  });
  const e = vi.spyOn(process.stderr, "write").mockImplementation((c) => {
    err += String(c);
    return true;
  });
  try {
    return { code: await main(argv, env), out, err };
  } finally {
    o.mockRestore();
    e.mockRestore();
  }
}
