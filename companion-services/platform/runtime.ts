import { hostname } from "node:os";
import { z } from "zod";
import { parseEnv } from "./config.ts";
import type { ServiceDatabase } from "./database.ts";
import { KafkaEventBus } from "./event-bus/kafka.ts";
import { MemoryEventBus } from "./event-bus/memory.ts";
import type { EventBus } from "./event-bus.ts";
import type { Logger } from "./logger.ts";
import { OutboxProcessor } from "./outbox/processor.ts";

/**
 * Settings of distributed mode that only the platform reads (gRPC addresses, outbox tuning), kept
 * out of the homeserver's config. Documented in docs/distributed.md.
 */
const envSchema = z.object({
  /** Where identity's gRPC server listens. */
  IDENTITY_GRPC_LISTEN: z.string().default("127.0.0.1:50051"),
  /** Where the other services reach identity's gRPC server. */
  IDENTITY_GRPC_ADDRESS: z.string().default("127.0.0.1:50051"),
  /** Deadline of each gRPC call, ms. */
  NOVA_RPC_DEADLINE_MS: z.coerce.number().int().positive().default(5_000),
  /** How long the homeserver trusts a verified access token before asking identity again, ms. */
  NOVA_TOKEN_CACHE_MS: z.coerce.number().int().nonnegative().default(10_000),
  /** Distinguishes processes of one service (per-process consumer groups). */
  NOVA_INSTANCE_ID: z
    .string()
    .regex(/^[A-Za-z0-9_.-]+$/)
    .optional(),
  NOVA_OUTBOX_BATCH: z.coerce.number().int().positive().default(4_000),
  NOVA_OUTBOX_POLL_MS: z.coerce.number().int().positive().default(1_000),
  NOVA_OUTBOX_MAX_ATTEMPTS: z.coerce.number().int().positive().default(5),
  NOVA_OUTBOX_RETENTION_HOURS: z.coerce.number().positive().default(168),
});

export type PlatformConfig = {
  identityGrpcListen: string;
  identityGrpcAddress: string;
  rpcDeadlineMs: number;
  tokenCacheMs: number;
  instanceId: string;
  outbox: { batchSize: number; pollIntervalMs: number; maxAttempts: number; retentionMs: number };
};

export function loadPlatformConfig(env: NodeJS.ProcessEnv = process.env): PlatformConfig {
  const e = parseEnv(envSchema, env);
  return {
    identityGrpcListen: e.IDENTITY_GRPC_LISTEN,
    identityGrpcAddress: e.IDENTITY_GRPC_ADDRESS,
    rpcDeadlineMs: e.NOVA_RPC_DEADLINE_MS,
    tokenCacheMs: e.NOVA_TOKEN_CACHE_MS,
    instanceId: e.NOVA_INSTANCE_ID ?? `${hostname().replace(/[^A-Za-z0-9_.-]/g, "_")}-${process.pid}`,
    outbox: {
      batchSize: e.NOVA_OUTBOX_BATCH,
      pollIntervalMs: e.NOVA_OUTBOX_POLL_MS,
      maxAttempts: e.NOVA_OUTBOX_MAX_ATTEMPTS,
      retentionMs: e.NOVA_OUTBOX_RETENTION_HOURS * 3600_000,
    },
  };
}

/** Kafka when KAFKA_BROKERS is set, otherwise the in-process bus. */
export function createEventBus(
  kafkaBrokers: readonly string[] | undefined,
  logger: Logger,
  clientId: string,
): EventBus {
  if (kafkaBrokers && kafkaBrokers.length > 0) {
    return new KafkaEventBus({ brokers: [...kafkaBrokers], clientId, logger });
  }
  return new MemoryEventBus();
}

/** Starts a service's outbox processor; returns it (stop() on shutdown). */
export async function startOutbox(
  database: ServiceDatabase<unknown>,
  bus: EventBus,
  logger: Logger,
  platform: PlatformConfig = loadPlatformConfig(),
): Promise<OutboxProcessor> {
  const processor = new OutboxProcessor({
    database,
    bus,
    logger: logger.child({ outbox: database.service }),
    ...platform.outbox,
  });
  await processor.start();
  return processor;
}
