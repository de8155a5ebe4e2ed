import { hostname } from "node:os";
import { z } from "zod";
import { splitList } from "./config.ts";
import { SERVICE_NAMES, type ServiceName } from "./services.ts";

/** Most outbox events claimed per batch: the one default, for the env var and the processor alike. */
export const DEFAULT_OUTBOX_BATCH = 4_000;

/**
 * The platform's settings (databases, Kafka, Redis, outbox, RPC), one part of the process's
 * configuration (server/config.ts composes it with the others and parses the environment once).
 * Documented in docs/distributed.md and README.md.
 */
export const platformEnvSchema = z.object({
  DATABASE_URL: z.string().optional(),
  IDENTITY_DATABASE_URL: z.string().optional(),
  MESSAGING_DATABASE_URL: z.string().optional(),
  GRAPH_DATABASE_URL: z.string().optional(),
  CONTENT_DATABASE_URL: z.string().optional(),
  MEDIA_DATABASE_URL: z.string().optional(),
  FEED_DATABASE_URL: z.string().optional(),
  NOTIFICATIONS_DATABASE_URL: z.string().optional(),
  SEARCH_DATABASE_URL: z.string().optional(),
  KAFKA_BROKERS: z.string().optional(),
  /** Prefix of this deployment's topics and consumer groups, for a Kafka cluster shared with others. */
  KAFKA_NAMESPACE: z
    .string()
    .regex(/^[A-Za-z0-9_-]{1,64}$/, "letters, digits, _ and - only (it prefixes topic names)")
    .optional(),
  REDIS_URL: z.string().optional(),
  /** Deadline of each gRPC call, ms. */
  NOVA_RPC_DEADLINE_MS: z.coerce.number().int().positive().default(5_000),
  /** Distinguishes processes of one service (per-process consumer groups). */
  NOVA_INSTANCE_ID: z
    .string()
    .regex(/^[A-Za-z0-9_.-]+$/)
    .optional(),
  NOVA_OUTBOX_BATCH: z.coerce.number().int().positive().default(DEFAULT_OUTBOX_BATCH),
  NOVA_OUTBOX_POLL_MS: z.coerce.number().int().positive().default(1_000),
  NOVA_OUTBOX_MAX_ATTEMPTS: z.coerce.number().int().positive().default(5),
  NOVA_OUTBOX_RETENTION_HOURS: z.coerce.number().positive().default(168),
});

export type PlatformEnv = z.infer<typeof platformEnvSchema>;

/** How a service's outbox processor runs (startOutbox). */
export type OutboxSettings = {
  batchSize: number;
  pollIntervalMs: number;
  maxAttempts: number;
  retentionMs: number;
};

export type PlatformConfig = {
  /** Per-service database URL; absent means the embedded PGlite database. */
  databaseUrls: Record<ServiceName, string | undefined>;
  kafkaBrokers: string[] | undefined;
  kafkaNamespace: string | undefined;
  redisUrl: string | undefined;
  rpcDeadlineMs: number;
  instanceId: string;
  outbox: OutboxSettings;
};

const DATABASE_URL_VARS = {
  identity: "IDENTITY_DATABASE_URL",
  messaging: "MESSAGING_DATABASE_URL",
  graph: "GRAPH_DATABASE_URL",
  content: "CONTENT_DATABASE_URL",
  media: "MEDIA_DATABASE_URL",
  feed: "FEED_DATABASE_URL",
  notifications: "NOTIFICATIONS_DATABASE_URL",
  search: "SEARCH_DATABASE_URL",
} as const satisfies Record<ServiceName, keyof PlatformEnv>;

/** The platform's part of the configuration, from the parsed environment. */
export function platformConfig(e: PlatformEnv): PlatformConfig {
  const databaseUrls = {} as Record<ServiceName, string | undefined>;
  for (const name of SERVICE_NAMES) databaseUrls[name] = e[DATABASE_URL_VARS[name]] ?? e.DATABASE_URL;
  return {
    databaseUrls,
    kafkaBrokers: e.KAFKA_BROKERS ? splitList(e.KAFKA_BROKERS) : undefined,
    kafkaNamespace: e.KAFKA_NAMESPACE,
    redisUrl: e.REDIS_URL,
    rpcDeadlineMs: e.NOVA_RPC_DEADLINE_MS,
    instanceId: e.NOVA_INSTANCE_ID ?? `${hostname().replace(/[^A-Za-z0-9_.-]/g, "_")}-${process.pid}`,
    outbox: {
      batchSize: e.NOVA_OUTBOX_BATCH,
      pollIntervalMs: e.NOVA_OUTBOX_POLL_MS,
      maxAttempts: e.NOVA_OUTBOX_MAX_ATTEMPTS,
      retentionMs: e.NOVA_OUTBOX_RETENTION_HOURS * 3600_000,
    },
  };
}
