import { createIdentity } from "../../companion-services/identity/index.ts";
import type { IdentityService } from "../../companion-services/identity/service.ts";
import { Databases } from "../../companion-services/platform/database.ts";
import { MatrixError } from "../../companion-services/platform/errors.ts";
import type { NovaConfig } from "../config.ts";
import { AdminApi } from "./admin-api.ts";
import { type Command, one, positiveInt, UsageError } from "./command.ts";
import { PASSWORD_FLAGS, readPassword } from "./password.ts";

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

/**
 * The admin API when a server holds the data (its caches then see every write), the database
 * otherwise (AdminApi.serverHolds: the data-dir lock, or a server answering when on PostgreSQL).
 * `direct` is null for commands that need the server (rooms, notices, listing).
 */
async function viaServer<T>(
  config: NovaConfig,
  env: NodeJS.ProcessEnv,
  api: (a: AdminApi) => Promise<T>,
  direct: (() => Promise<T>) | null,
): Promise<T> {
  const a = AdminApi.from(config, env);
  if (await a.serverHolds(config)) {
    try {
      return await api(a);
    } finally {
      await a.close();
    }
  }
  if (!direct)
    throw new MatrixError(
      503,
      "M_UNKNOWN",
      `no server answers at ${a.baseUrl}: start it (this command uses its admin API)`,
    );
  return direct();
}

const userId = (config: NovaConfig, arg: string) =>
  arg.startsWith("@") ? arg : `@${arg.toLowerCase()}:${config.serverName}`;
const enc = encodeURIComponent;

function expiryOf(flags: Record<string, string | true>): number | null {
  if (flags.expires === undefined) return null;
  const t = typeof flags.expires === "string" ? Date.parse(flags.expires) : Number.NaN;
  if (Number.isNaN(t)) throw new UsageError("--expires must be an ISO 8601 time");
  return t;
}

export const ADMIN_COMMANDS: Record<string, Command> = {
  "user list": {
    usage: "user list [--name <substring>] [--deactivated] [--limit <n>]",
    flags: { name: false, deactivated: true, limit: false },
    async run(args, flags, config, env) {
      if (args.length) throw new UsageError(`unexpected argument ${args[0]}`);
      const q = new URLSearchParams({ limit: String(positiveInt(flags.limit, "limit") ?? 100) });
      if (typeof flags.name === "string") q.set("name", flags.name);
      if (flags.deactivated) q.set("deactivated", "true");
      return viaServer(config, env, (a) => a.call("GET", `/v2/users?${q}`), null);
    },
  },
  "user create": {
    usage: "user create <localpart> [--password-stdin | --password-file <path>] [--admin]",
    flags: { ...PASSWORD_FLAGS, admin: true },
    async run(args, flags, config, env) {
      const localpart = one(args, "localpart").toLowerCase();
      const password = await readPassword(flags);
      const admin = flags.admin === true;
      const id = userId(config, localpart);
      return viaServer(
        config,
        env,
        async (a) => {
          const existing = await a.call("GET", `/v2/users/${enc(id)}`).catch(() => null);
          if (existing) throw new MatrixError(400, "M_USER_IN_USE", "User ID already taken.");
          await a.call("PUT", `/v2/users/${enc(id)}`, { password, admin });
          return { user_id: id, admin };
        },
        () =>
          withIdentity(config, async (identity) => {
            const r = await identity.register({ localpart, password, admin, inhibitLogin: true });
            return { user_id: r.userId, admin };
          }),
      );
    },
  },
  "user deactivate": {
    usage: "user deactivate <user> [--erase]",
    flags: { erase: true },
    async run(args, flags, config, env) {
      const id = userId(config, one(args, "user"));
      return viaServer(
        config,
        env,
        (a) => a.call("POST", `/v1/deactivate/${enc(id)}`, { erase: flags.erase === true }),
        null,
      );
    },
  },
  "user reset-password": {
    usage: "user reset-password <user> [--password-stdin | --password-file <path>] [--keep-devices]",
    flags: { ...PASSWORD_FLAGS, "keep-devices": true },
    async run(args, flags, config, env) {
      const id = userId(config, one(args, "user"));
      const password = await readPassword(flags);
      return viaServer(
        config,
        env,
        (a) =>
          a.call("POST", `/v1/reset_password/${enc(id)}`, {
            new_password: password,
            logout_devices: flags["keep-devices"] !== true,
          }),
        null,
      );
    },
  },
  "user make-admin": {
    usage: "user make-admin <user> [--revoke]",
    flags: { revoke: true },
    async run(args, flags, config, env) {
      const id = userId(config, one(args, "user"));
      const admin = flags.revoke !== true;
      return viaServer(config, env, (a) => a.call("PUT", `/v1/users/${enc(id)}/admin`, { admin }), null);
    },
  },
  "room list": {
    usage: "room list [--search <term>] [--limit <n>]",
    flags: { search: false, limit: false },
    async run(args, flags, config, env) {
      if (args.length) throw new UsageError(`unexpected argument ${args[0]}`);
      const q = new URLSearchParams({ limit: String(positiveInt(flags.limit, "limit") ?? 100) });
      if (typeof flags.search === "string") q.set("search_term", flags.search);
      return viaServer(config, env, (a) => a.call("GET", `/v1/rooms?${q}`), null);
    },
  },
  "room delete": {
    usage: "room delete <roomId> [--block] [--no-purge]",
    flags: { block: true, "no-purge": true },
    async run(args, flags, config, env) {
      const roomId = one(args, "roomId");
      const body = { block: flags.block === true, purge: flags["no-purge"] !== true };
      return viaServer(config, env, (a) => a.call("DELETE", `/v1/rooms/${enc(roomId)}`, body), null);
    },
  },
  "notice send": {
    usage: "notice send <user> <text…>",
    flags: {},
    async run(args, _flags, config, env) {
      if (args.length < 2) throw new UsageError("expected <user> and the notice's text");
      const [user, ...words] = args as [string, ...string[]];
      const body = { user_id: userId(config, user), content: { msgtype: "m.text", body: words.join(" ") } };
      return viaServer(config, env, (a) => a.call("POST", "/v1/send_server_notice", body), null);
    },
  },
  "token create": {
    usage: "token create [--uses <n>] [--expires <ISO 8601 time>] [--token <value>]",
    flags: { uses: false, expires: false, token: false },
    async run(args, flags, config, env) {
      if (args.length > 0) throw new UsageError(`unexpected argument ${args[0]}`);
      const usesAllowed = positiveInt(flags.uses, "uses") ?? null;
      const expiryTime = expiryOf(flags);
      const token = typeof flags.token === "string" ? flags.token : undefined;
      return viaServer(
        config,
        env,
        (a) =>
          a.call("POST", "/v1/registration_tokens/new", {
            token,
            uses_allowed: usesAllowed,
            expiry_time: expiryTime,
          }),
        () =>
          withIdentity(config, async (identity) => {
            const t = await identity.createRegistrationToken({ token, usesAllowed, expiryTime });
            return {
              token: t.token,
              uses_allowed: t.usesAllowed,
              pending: t.pending,
              completed: t.completed,
              expiry_time: t.expiryTime,
            };
          }),
      );
    },
  },
  "token list": {
    usage: "token list [--valid | --invalid]",
    flags: { valid: true, invalid: true },
    async run(args, flags, config, env) {
      if (args.length) throw new UsageError(`unexpected argument ${args[0]}`);
      const q = flags.valid ? "?valid=true" : flags.invalid ? "?valid=false" : "";
      return viaServer(config, env, (a) => a.call("GET", `/v1/registration_tokens${q}`), null);
    },
  },
  "token revoke": {
    usage: "token revoke <token>",
    flags: {},
    async run(args, _flags, config, env) {
      const token = one(args, "token");
      return viaServer(config, env, (a) => a.call("DELETE", `/v1/registration_tokens/${enc(token)}`), null);
    },
  },
};
