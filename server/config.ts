import { z } from "zod";
import { type CallsConfig, callsConfig, callsEnvSchema } from "../calls/config.ts";
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
import { type OperationsConfig, operationsConfig, operationsEnvSchema } from "./operations-config.ts";

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
});

/**
 * Every setting Nova reads from the environment: one schema per area, composed, parsed in one go
 * (so one line names every offending variable). Read once at start, in server/main.ts and
 * server/cli.ts, and passed down; nothing below them reads process.env.
 */
const envSchema = z.object({
  ...homeserverEnvSchema.shape,
  ...callsEnvSchema.shape,
  ...identityEnvSchema.shape,
  ...mediaEnvSchema.shape,
  ...notificationsEnvSchema.shape,
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
};

export type NovaConfig = HomeserverConfig &
  CallsConfig &
  IdentityConfig &
  MediaConfig &
  NotificationsConfig &
  PlatformConfig &
  OperationsConfig;

export function loadConfig(env: NodeJS.ProcessEnv): NovaConfig {
  const e = parseEnv(envSchema, env);
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
    ...callsConfig(e),
    ...identityConfig(e),
    ...mediaConfig(e),
    ...notificationsConfig(e),
    ...platformConfig(e),
    ...operationsConfig(e),
  };
}
