import { z } from "zod";
import { type CallsConfig, callsConfig, callsEnvSchema } from "../calls/config.ts";
import { type ContentConfig, contentConfig, contentEnvSchema } from "../companion-services/content/config.ts";
import { type FeedConfig, feedConfig, feedEnvSchema } from "../companion-services/feed/config.ts";
import { type GraphConfig, graphConfig, graphEnvSchema } from "../companion-services/graph/config.ts";
import {
  type IdentityConfig,
  identityConfig,
  identityEnvSchema,
} from "../companion-services/identity/config.ts";
import { type MediaConfig, mediaConfig, mediaEnvSchema } from "../companion-services/media/config.ts";
import {
  type NotificationsConfig,
  notificationsConfig,
  notificationsEnvSchema,
} from "../companion-services/notifications/config.ts";
import { parseEnv } from "../companion-services/platform/config.ts";
import {
  type PlatformConfig,
  platformConfig,
  platformEnvSchema,
} from "../companion-services/platform/platform-config.ts";
import { type SearchConfig, searchConfig, searchEnvSchema } from "../companion-services/search/config.ts";
import { readConfigFile } from "./config/file.ts";
import { type EmailConfig, emailConfig, emailEnvSchema } from "./email/config.ts";
import { type OperationsConfig, operationsConfig, operationsEnvSchema } from "./operations-config.ts";
import { DEFAULT_ROOM_VERSION, type RoomVersion, SUPPORTED_ROOM_VERSIONS } from "./rooms/room-versions.ts";

/** The homeserver's own settings (the Matrix front). */
const homeserverEnvSchema = z.object({
  NOVA_HOST: z.string().default("127.0.0.1"),
  NOVA_PORT: z.coerce.number().int().min(0).max(65535).default(8008),
  NOVA_SERVER_NAME: z.string().min(1).default("localhost"),
  NOVA_PUBLIC_BASEURL: z.string().url().optional(),
  NOVA_DATA_DIR: z.string().default("./data"),
  NOVA_REGISTRATION: z.enum(["open", "token", "closed"]).default("open"),
  /**
   * Guest accounts (`POST /register?kind=guest`, spec "Guest Access"). On by default, unlike
   * Synapse's `allow_guest_access`: registration is already open by default and a guest can do
   * less than a registered user (only the Guest Access endpoints, only `can_join` rooms).
   */
  NOVA_GUEST_ACCESS: z.enum(["0", "1", "false", "true"]).default("1"),
  NOVA_LOG_LEVEL: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
  NOVA_MAX_EVENT_BODY: z.coerce
    .number()
    .int()
    .positive()
    .default(64 * 1024),
  NOVA_MAX_REQUEST_BODY: z.coerce
    .number()
    .int()
    .positive()
    .default(1024 * 1024),
  /** permessage-deflate on the WebSocket sync transport (off by default: it costs CPU per frame). */
  NOVA_WS_DEFLATE: z.enum(["0", "1", "false", "true"]).default("0"),
  /** The room version of /createRoom without `room_version` (any of 1–11). */
  NOVA_DEFAULT_ROOM_VERSION: z.enum(SUPPORTED_ROOM_VERSIONS).default(DEFAULT_ROOM_VERSION),
  /**
   * Test only: accept any TLS certificate from the identity servers of third-party invites (the
   * conformance suite's identity server has a self-signed one). Identity servers are always https.
   */
  NOVA_IDENTITY_SERVER_INSECURE: z.enum(["0", "1", "false", "true"]).default("0"),
});

/**
 * Every setting Nova reads from the environment: one schema per area, composed, parsed in one go
 * (so one line names every offending variable). Read once at start, in server/main.ts and
 * server/cli.ts (`nova serve` too), with the NOVA_CONFIG file's values under the environment's,
 * and passed down; nothing below them reads process.env.
 */
const envSchema = z.object({
  ...homeserverEnvSchema.shape,
  ...callsEnvSchema.shape,
  ...emailEnvSchema.shape,
  ...identityEnvSchema.shape,
  ...mediaEnvSchema.shape,
  ...contentEnvSchema.shape,
  ...notificationsEnvSchema.shape,
  ...graphEnvSchema.shape,
  ...feedEnvSchema.shape,
  ...searchEnvSchema.shape,
  ...platformEnvSchema.shape,
  ...operationsEnvSchema.shape,
});

export type HomeserverConfig = {
  host: string;
  port: number;
  serverName: string;
  publicBaseUrl: string;
  dataDir: string;
  registration: "open" | "token" | "closed";
  guestAccess: boolean;
  logLevel: z.infer<typeof homeserverEnvSchema>["NOVA_LOG_LEVEL"];
  maxEventBody: number;
  maxRequestBody: number;
  wsDeflate: boolean;
  defaultRoomVersion: RoomVersion;
  identityServerInsecure: boolean;
};

export type NovaConfig = HomeserverConfig &
  CallsConfig &
  EmailConfig &
  IdentityConfig &
  MediaConfig &
  ContentConfig &
  NotificationsConfig &
  GraphConfig &
  FeedConfig &
  SearchConfig &
  PlatformConfig &
  OperationsConfig;

type Env = z.infer<typeof envSchema>;

/** Every variable the configuration reads, in the schema's order; the NOVA_CONFIG file may set each. */
export const SETTING_NAMES: readonly string[] = Object.keys(envSchema.shape);
const KNOWN: ReadonlySet<string> = new Set(SETTING_NAMES);

/** Variables Nova reads that the file cannot set, and why (the file's loader says so). */
const ENV_ONLY: Record<string, string> = {
  NOVA_CONFIG: "names the file itself: set it in the environment",
  NOVA_URL: "is a setting of the nova CLI, read from the environment only",
  NOVA_ADMIN_TOKEN: "is a setting of the nova CLI, read from the environment only",
  NOVA_ADMIN_USER: "is a setting of the nova CLI, read from the environment only",
  NOVA_ADMIN_PASSWORD_FILE: "is a setting of the nova CLI, read from the environment only",
};

/** The environment with the NOVA_CONFIG file beneath it: what the schema parses. */
export type Settings = {
  env: NodeJS.ProcessEnv;
  /** NOVA_CONFIG, when set. */
  file: string | undefined;
  /** Variables whose value is the file's (the environment did not set them) → their key in the file. */
  fromFile: Record<string, string>;
};

/** Reads the NOVA_CONFIG file, if any, and lays the environment over it: the environment wins. */
export function resolveSettings(env: NodeJS.ProcessEnv): Settings {
  const file = env.NOVA_CONFIG || undefined;
  if (!file) return { env, file, fromFile: {} };
  const { values, keys } = readConfigFile(file, { known: KNOWN, envOnly: ENV_ONLY });
  const merged: NodeJS.ProcessEnv = { ...env };
  const fromFile: Record<string, string> = {};
  for (const [name, value] of Object.entries(values)) {
    if (env[name] !== undefined) continue;
    merged[name] = value;
    fromFile[name] = keys[name]!;
  }
  return { env: merged, file, fromFile };
}

function parseSettings(s: Settings): Env {
  return parseEnv(envSchema, s.env, (name) => {
    const key = s.fromFile[name];
    return key === undefined ? undefined : `from ${s.file} key "${key}"`;
  });
}

/** The configuration from the environment and the NOVA_CONFIG file it may name. */
export function loadConfig(env: NodeJS.ProcessEnv): NovaConfig {
  return configFrom(parseSettings(resolveSettings(env)));
}

export type SettingSource = "env" | "file" | "default" | "unset";
export type EffectiveSetting = { name: string; value: string | undefined; source: SettingSource };

/**
 * Each variable's value after parsing (defaults filled in) and where it came from, for
 * `nova config check`; throws the ConfigError loadConfig would. Values are unmasked.
 */
export function effectiveSettings(env: NodeJS.ProcessEnv): {
  file: string | undefined;
  settings: EffectiveSetting[];
} {
  const s = resolveSettings(env);
  const e = parseSettings(s);
  // Built and dropped for its checks across variables (s3 without a bucket, a CDN without a secret).
  configFrom(e);
  const parsed = e as Record<string, unknown>;
  const settings = SETTING_NAMES.map((name): EffectiveSetting => {
    const v = parsed[name];
    const value = v === undefined ? undefined : String(v);
    const source: SettingSource =
      env[name] !== undefined
        ? "env"
        : name in s.fromFile
          ? "file"
          : value === undefined
            ? "unset"
            : "default";
    return { name, value, source };
  });
  return { file: s.file, settings };
}

function configFrom(e: Env): NovaConfig {
  return {
    host: e.NOVA_HOST,
    port: e.NOVA_PORT,
    serverName: e.NOVA_SERVER_NAME,
    publicBaseUrl: e.NOVA_PUBLIC_BASEURL ?? `http://${e.NOVA_HOST}:${e.NOVA_PORT}`,
    dataDir: e.NOVA_DATA_DIR,
    registration: e.NOVA_REGISTRATION,
    guestAccess: e.NOVA_GUEST_ACCESS === "1" || e.NOVA_GUEST_ACCESS === "true",
    logLevel: e.NOVA_LOG_LEVEL,
    maxEventBody: e.NOVA_MAX_EVENT_BODY,
    maxRequestBody: e.NOVA_MAX_REQUEST_BODY,
    wsDeflate: e.NOVA_WS_DEFLATE === "1" || e.NOVA_WS_DEFLATE === "true",
    defaultRoomVersion: e.NOVA_DEFAULT_ROOM_VERSION,
    identityServerInsecure:
      e.NOVA_IDENTITY_SERVER_INSECURE === "1" || e.NOVA_IDENTITY_SERVER_INSECURE === "true",
    ...callsConfig(e),
    ...emailConfig(e, e.NOVA_SERVER_NAME),
    ...identityConfig(e),
    ...mediaConfig(e),
    ...contentConfig(e),
    ...notificationsConfig(e),
    ...graphConfig(e),
    ...feedConfig(e),
    ...searchConfig(e),
    ...platformConfig(e),
    ...operationsConfig(e),
  };
}
