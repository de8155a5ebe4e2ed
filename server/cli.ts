#!/usr/bin/env -S npx tsx
/**
 * Nova's admin command line: `npm run nova -- <command> [options]`. It opens the databases with the
 * server's configuration (the same environment variables); while a server runs, commands call its
 * admin API (NOVA_ADMIN_TOKEN), otherwise the few that can write the database directly; results
 * are printed as JSON on stdout, failures as a Matrix-style error on stderr with a non-zero exit.
 *
 * Commands are a table: adding one (e.g. `serve`) is adding an entry to COMMANDS.
 */
import { MatrixError } from "../companion-services/platform/errors.ts";
import { ADMIN_COMMANDS } from "./cli/admin-commands.ts";
import { type Command, type Flags, UsageError } from "./cli/command.ts";
import { CONFIG_CHECK } from "./cli/config-check.ts";
import { SEARCH_REINDEX } from "./cli/search.ts";
import { loadConfig } from "./config.ts";
import { operatorError } from "./ops/operator-errors.ts";

function fileCommand(name: string, fn: "backupCommand" | "restoreCommand"): Command {
  return {
    usage: `${name} <file>`,
    flags: {},
    async run(args, _flags, config) {
      if (args.length !== 1) throw new UsageError("expected exactly one <file>");
      return (await import("./ops/backup.ts"))[fn](args[0]!, config);
    },
  };
}

export const COMMANDS: Record<string, Command> = {
  // Runs a service until SIGTERM (server/serve.ts; docs/distributed.md).
  // Imported on use: the whole server graph takes seconds to load, which admin commands need not pay.
  serve: {
    usage: "serve <all|homeserver|identity|media|notifications|graph|content|feed|search>",
    flags: {},
    async run(args, _flags, config) {
      const { isServeTarget, SERVE_TARGETS, serveUntilSignal } = await import("./serve.ts");
      const { createLogger } = await import("../companion-services/platform/logger.ts");
      const [target] = args;
      if (args.length !== 1 || !isServeTarget(target))
        throw new UsageError(`expected one of: ${SERVE_TARGETS.join(", ")}`);
      const { exitOnListenError } = await import("../companion-services/platform/http/listen-error.ts");
      // A busy port: one line and exit code 2, as npm start.
      return serveUntilSignal(target, config, createLogger(config.logLevel, `nova-${target}`)).catch(
        exitOnListenError,
      );
    },
  },
  // Embedded database backups (server/ops/backup.ts), from the running server when one holds it.
  backup: fileCommand("backup", "backupCommand"),
  restore: fileCommand("restore", "restoreCommand"),
  // user, room, token commands (server/cli/admin-commands.ts): the admin API of a running server.
  ...ADMIN_COMMANDS,
  // The effective settings (environment over the NOVA_CONFIG file), secrets masked.
  "config check": CONFIG_CHECK,
  // Drops search's read model and rebuilds it from the topics (server/cli/search.ts).
  "search reindex": SEARCH_REINDEX,
};

/** Splits argv into the command (the longest known prefix), positional args and --flags. */
export function parseArgs(argv: string[]): { name: string; command: Command; args: string[]; flags: Flags } {
  const names = Object.keys(COMMANDS).sort((a, b) => b.split(" ").length - a.split(" ").length);
  const name = names.find((n) => n.split(" ").every((w, i) => argv[i] === w));
  if (!name) throw new UsageError(argv.length ? `unknown command: ${argv.join(" ")}` : "no command given");
  const command = COMMANDS[name]!;
  const rest = argv.slice(name.split(" ").length);
  const args: string[] = [];
  const flags: Flags = {};
  for (let i = 0; i < rest.length; i++) {
    const a = rest[i]!;
    if (!a.startsWith("--")) {
      args.push(a);
      continue;
    }
    const [key, inline] = a.slice(2).split(/=(.*)/s, 2) as [string, string | undefined];
    if (!(key in command.flags)) throw new UsageError(`unknown option --${key} for "${name}"`);
    if (command.flags[key]) {
      flags[key] = true;
    } else {
      const value = inline ?? rest[++i];
      if (value === undefined) throw new UsageError(`--${key} needs a value`);
      flags[key] = value;
    }
  }
  return { name, command, args, flags };
}

function usage(): string {
  return ["usage: nova <command>", ...Object.values(COMMANDS).map((c) => `  nova ${c.usage}`)].join("\n");
}

/** Runs one command; `env` is the environment, read here once (server/config.ts) and passed down. */
export async function main(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  if (argv.length === 1 && ["help", "--help", "-h"].includes(argv[0]!)) {
    process.stdout.write(`${usage()}\n`);
    return 0;
  }
  try {
    const { command, args, flags } = parseArgs(argv);
    const result = await command.run(args, flags, loadConfig(env), env);
    // undefined: the command printed its own text (config check without --json).
    if (result !== undefined) process.stdout.write(`${JSON.stringify(result)}\n`);
    return 0;
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(
        `${JSON.stringify({ errcode: "M_INVALID_PARAM", error: err.message })}\n${usage()}\n`,
      );
      return 2;
    }
    const known = operatorError(err);
    if (known) {
      process.stderr.write(`${known.line}\n`);
      return known.code;
    }
    if (err instanceof MatrixError) {
      process.stderr.write(`${JSON.stringify(err.toJSON())}\n`);
      return 1;
    }
    process.stderr.write(`${JSON.stringify({ errcode: "M_UNKNOWN", error: String(err) })}\n`);
    return 1;
  }
}

if (import.meta.url === `file://${process.argv[1]}` || process.argv[1]?.endsWith("server/cli.ts")) {
  process.exitCode = await main(process.argv.slice(2), process.env);
}
