import { readFile } from "node:fs/promises";

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
  else pw = await promptSecret("password: ", "--password-stdin, --password-file <path>");
  if (pw === "") throw new UsageError("the password is empty");
  return pw;
}

/** Asks on the terminal, the answer not echoed; without a terminal, says what to use instead. */
export async function promptSecret(question: string, otherwise: string): Promise<string> {
  const stdin = process.stdin;
  if (!stdin.isTTY) throw new UsageError(`a password is needed: ${otherwise} or a terminal prompt`);
  process.stderr.write(question);
  stdin.setRawMode(true);
  stdin.resume();
  try {
    return await new Promise<string>((resolve, reject) => {
      let typed = "";
      const onData = (chunk: Buffer) => {
        for (const ch of chunk.toString("utf8")) {
          if (ch === "\r" || ch === "\n") {
            stdin.off("data", onData);
            return resolve(typed);
          }
          if (ch === "\u0003") {
            stdin.off("data", onData);
            return reject(new UsageError("interrupted"));
          }
          if (ch === "\u007f" || ch === "\b") typed = typed.slice(0, -1);
          else typed += ch;
        }
      };
      stdin.on("data", onData);
    });
  } finally {
    stdin.setRawMode(false);
    stdin.pause();
    process.stderr.write("\n");
  }
}
