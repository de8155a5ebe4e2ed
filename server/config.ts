import { z } from "zod";
import { parseEnv, splitList } from "../companion-services/platform/config.ts";
import { SERVICE_NAMES } from "../companion-services/platform/services.ts";

/** Every setting Nova reads from the environment, parsed once at start. */
const envSchema = z.object({
  NOVA_HOST: z.string().default("127.0.0.1"),
  NOVA_PORT: z.coerce.number().int().min(0).max(65535).default(8008),
  NOVA_SERVER_NAME: z.string().min(1).default("localhost"),
  NOVA_PUBLIC_BASEURL: z.string().url().optional(),
  NOVA_DATA_DIR: z.string().default("./data"),
  NOVA_REGISTRATION: z.enum(["open", "token", "closed"]).default("open"),
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
  NOVA_ACCESS_TOKEN_TTL_MS: z.coerce.number().int().nonnegative().default(0),
  NOVA_LOGIN_FAILURES_PER_MINUTE: z.coerce.number().int().positive().default(5),
  NOVA_TURN_URIS: z.string().default(""),
  NOVA_TURN_SECRET: z.string().default(""),
  NOVA_TURN_TTL: z.coerce.number().int().positive().default(86400),
  /** Group calls: which SFU implementation, the address its ICE binds and announces, limits and timers. */
  NOVA_SFU: z.enum(["werift", "mediasoup"]).default("werift"),
  NOVA_SFU_ICE_ADDRESS: z.string().optional(),
  NOVA_SFU_MAX_BITRATE: z.coerce.number().int().positive().default(1_500_000),
  NOVA_CALL_GRACE_MS: z.coerce.number().int().positive().default(10_000),
  NOVA_CALL_ICE_TIMEOUT_MS: z.coerce.number().int().positive().default(20_000),
  DATABASE_URL: z.string().optional(),
  IDENTITY_DATABASE_URL: z.string().optional(),
  MESSAGING_DATABASE_URL: z.string().optional(),
  GRAPH_DATABASE_URL: z.string().optional(),
  CONTENT_DATABASE_URL: z.string().optional(),
  MEDIA_DATABASE_URL: z.string().optional(),
  FEED_DATABASE_URL: z.string().optional(),
  NOTIFICATIONS_DATABASE_URL: z.string().optional(),
  KAFKA_BROKERS: z.string().optional(),
  REDIS_URL: z.string().optional(),
  /** permessage-deflate on the WebSocket sync transport (off by default: it costs CPU per frame). */
  NOVA_WS_DEFLATE: z.enum(["0", "1", "false", "true"]).default("0"),
});

export type NovaConfig = {
  host: string;
  port: number;
  serverName: string;
  publicBaseUrl: string;
  dataDir: string;
  registration: "open" | "token" | "closed";
  logLevel: z.infer<typeof envSchema>["NOVA_LOG_LEVEL"];
  maxEventBody: number;
  maxRequestBody: number;
  accessTokenTtlMs: number;
  loginFailuresPerMinute: number;
  turn: { uris: string[]; secret: string; ttl: number };
  calls: {
    sfu: "werift" | "mediasoup";
    iceAddress: string | undefined;
    maxVideoBitrate: number;
    graceMs: number;
    iceTimeoutMs: number;
  };
  /** Per-service database URL; absent means the embedded PGlite database. */
  databaseUrls: Record<string, string | undefined>;
  kafkaBrokers: string[] | undefined;
  redisUrl: string | undefined;
  wsDeflate: boolean;
};

export function loadConfig(env: NodeJS.ProcessEnv = process.env): NovaConfig {
  const e = parseEnv(envSchema, env);
  const databaseUrls: Record<string, string | undefined> = {};
  for (const name of SERVICE_NAMES) {
    const key = `${name.toUpperCase()}_DATABASE_URL` as keyof typeof e;
    databaseUrls[name] = (e[key] as string | undefined) ?? e.DATABASE_URL;
  }
  return {
    host: e.NOVA_HOST,
    port: e.NOVA_PORT,
    serverName: e.NOVA_SERVER_NAME,
    publicBaseUrl: e.NOVA_PUBLIC_BASEURL ?? `http://${e.NOVA_HOST}:${e.NOVA_PORT}`,
    dataDir: e.NOVA_DATA_DIR,
    registration: e.NOVA_REGISTRATION,
    logLevel: e.NOVA_LOG_LEVEL,
    maxEventBody: e.NOVA_MAX_EVENT_BODY,
    maxRequestBody: e.NOVA_MAX_REQUEST_BODY,
    accessTokenTtlMs: e.NOVA_ACCESS_TOKEN_TTL_MS,
    loginFailuresPerMinute: e.NOVA_LOGIN_FAILURES_PER_MINUTE,
    turn: {
      uris: splitList(e.NOVA_TURN_URIS),
      secret: e.NOVA_TURN_SECRET,
      ttl: e.NOVA_TURN_TTL,
    },
    calls: {
      sfu: e.NOVA_SFU,
      iceAddress: e.NOVA_SFU_ICE_ADDRESS,
      maxVideoBitrate: e.NOVA_SFU_MAX_BITRATE,
      graceMs: e.NOVA_CALL_GRACE_MS,
      iceTimeoutMs: e.NOVA_CALL_ICE_TIMEOUT_MS,
    },
    databaseUrls,
    kafkaBrokers: e.KAFKA_BROKERS ? splitList(e.KAFKA_BROKERS) : undefined,
    redisUrl: e.REDIS_URL,
    wsDeflate: e.NOVA_WS_DEFLATE === "1" || e.NOVA_WS_DEFLATE === "true",
  };
}
