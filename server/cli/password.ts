import { readFile } from "node:fs/promises";
import { createInterface } from "node:readline/promises";

import { type Flags, UsageError } from "./command.ts";

/** Why `--password x` is refused: argv is visible in `ps` and npm echoes the command line. */
export const ARGV_PASSWORD =
  "--password on the command line is refused (ps and npm show it): use --password-stdin, --password-file <path> or the prompt";

export const PASSWORD_FLAGS = { password: false, "password-stdin": true, "password-file": false } as const;

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}

/** The password from stdin, a file (first line) or an interactive prompt; never from argv. */
export async function readPassword(flags: Flags): Promise<string> {
  if (flags.password !== undefined) throw new UsageError(ARGV_PASSWORD);
  let pw: string;
  if (flags["password-stdin"] === true) pw = (await readStdin()).split(/\r?\n/)[0] ?? "";
  else if (typeof flags["password-file"] === "string")
    pw = (await readFile(flags["password-file"], "utf8")).split(/\r?\n/)[0] ?? "";
  else if (process.stdin.isTTY) {
    const rl = createInterface({ input: process.stdin, output: process.stderr, terminal: true });
    pw = await rl.question("password: ");
    rl.close();
  } else
    throw new UsageError(
      "a password is needed: --password-stdin, --password-file <path> or a terminal prompt",
    );
  if (pw === "") throw new UsageError("the password is empty");
  return pw;
}
