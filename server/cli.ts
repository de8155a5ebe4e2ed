#!/usr/bin/env -S npx tsx
/**
 * Nova's admin command line: `npm run nova -- <command> [options]`. It opens the databases with the
 * server's configuration (the same environment variables) and calls the services directly; results
 * are printed as JSON on stdout, failures as a Matrix-style error on stderr with a non-zero exit.
 *
 * Commands are a table: adding one (e.g. `serve`) is adding an entry to COMMANDS.
 */
import { createIdentity } from "../companion-services/identity/index.ts";
import type { IdentityService } from "../companion-services/identity/service.ts";
import { Databases } from "../companion-services/platform/database.ts";
import { MatrixError } from "../companion-services/platform/errors.ts";
import { loadConfig, type NovaConfig } from "./config.ts";
import { operatorError } from "./ops/operator-errors.ts";

type Flags = Record<string, string | true>;

type Command = {
  usage: string;
  /** Flags the command accepts; `true` marks a boolean switch, `false` one that takes a value. */
  flags: Record<string, boolean>;
  run(args: string[], flags: Flags, config: NovaConfig): Promise<unknown>;
};

class UsageError extends Error {}

/** Runs `fn` with the identity service on the configured database, closing it afterwards. */
async function withIdentity<T>(
  config: NovaConfig,
  fn: (identity: IdentityService) => Promise<T>,
): Promise<T> {
  const databases = await Databases.open(["identity"], {
    dataDir: config.dataDir,
    urls: config.databaseUrls,
  });
  try {
    const identity = createIdentity(databases.get("identity"), {
      serverName: config.serverName,
      accessTokenTtlMs: config.accessTokenTtlMs,
      loginFailuresPerMinute: config.loginFailuresPerMinute,
    });
    return await fn(identity);
  } finally {
    await databases.close();
  }
}

function positiveInt(value: string | true | undefined, name: string): number | undefined {
  if (value === undefined) return undefined;
  if (value === true || !/^[0-9]+$/.test(value) || Number(value) < 1)
    throw new UsageError(`--${name} must be a positive integer`);
  return Number(value);
}

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
  // Runs a service until SIGTERM (server/serve.ts; docs/distributed.md). content, feed and
  // notifications are planned, not built: refused with a line that says so.
  // Imported on use: the whole server graph takes seconds to load, which admin commands need not pay.
  serve: {
    usage: "serve <all|homeserver|identity|media|notifications|graph>",
    flags: {},
    async run(args, _flags, config) {
      const { isPlannedService, isServeTarget, plannedServiceMessage, SERVE_TARGETS, serveUntilSignal } =
        await import("./serve.ts");
      const { createLogger } = await import("../companion-services/platform/logger.ts");
      const [target] = args;
      if (args.length === 1 && isPlannedService(target)) throw new UsageError(plannedServiceMessage(target));
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
  "user create": {
    usage: "user create <localpart> --password <password> [--admin]",
    flags: { password: false, admin: true },
    async run(args, flags, config) {
      const [localpart] = args;
      if (!localpart || args.length > 1) throw new UsageError("expected exactly one <localpart>");
      if (typeof flags.password !== "string" || flags.password === "")
        throw new UsageError("--password is required");
      const password = flags.password;
      const admin = flags.admin === true;
      return withIdentity(config, async (identity) => {
        const r = await identity.register({
          localpart: localpart.toLowerCase(),
          password,
          admin,
          inhibitLogin: true,
        });
        return { user_id: r.userId, admin };
      });
    },
  },
  "token create": {
    usage: "token create [--uses <n>] [--expires <ISO 8601 time>] [--token <value>]",
    flags: { uses: false, expires: false, token: false },
    async run(args, flags, config) {
      if (args.length > 0) throw new UsageError(`unexpected argument ${args[0]}`);
      const usesAllowed = positiveInt(flags.uses, "uses") ?? null;
      let expiryTime: number | null = null;
      if (flags.expires !== undefined) {
        expiryTime = typeof flags.expires === "string" ? Date.parse(flags.expires) : Number.NaN;
        if (Number.isNaN(expiryTime)) throw new UsageError("--expires must be an ISO 8601 time");
      }
      const token = typeof flags.token === "string" ? flags.token : undefined;
      return withIdentity(config, async (identity) => {
        const t = await identity.createRegistrationToken({ token, usesAllowed, expiryTime });
        return {
          token: t.token,
          uses_allowed: t.usesAllowed,
          pending: t.pending,
          completed: t.completed,
          expiry_time: t.expiryTime,
        };
      });
    },
  },
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
    const result = await command.run(args, flags, loadConfig(env));
    process.stdout.write(`${JSON.stringify(result)}\n`);
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
