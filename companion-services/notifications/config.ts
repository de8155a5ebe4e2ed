import { z } from "zod";

/**
 * The notifications service's settings: push delivery (timeouts, retries, concurrency), the
 * dedup window, and its own listener in distributed mode. One part of the process's
 * configuration (server/config.ts composes it and parses the environment once). Documented in
 * docs/push.md.
 */
export const notificationsEnvSchema = z.object({
  /** One POST to a push gateway, ms. */
  NOVA_PUSH_TIMEOUT_MS: z.coerce.number().int().positive().default(10_000),
  /** First retry delay after a 5xx or timeout, ms; doubled per attempt (with jitter) up to the max. */
  NOVA_PUSH_BACKOFF_MS: z.coerce.number().int().positive().default(1_000),
  NOVA_PUSH_BACKOFF_MAX_MS: z.coerce.number().int().positive().default(300_000),
  /** A delivery still failing this long after its first attempt is given up (logged `gave_up`). */
  NOVA_PUSH_GIVE_UP_MS: z.coerce.number().int().positive().default(3_600_000),
  /** Deliveries in flight at once in this process; 0 runs no delivery worker here. */
  NOVA_PUSH_CONCURRENCY: z.coerce.number().int().nonnegative().default(32),
  /** How long a claimed delivery stays claimed; a crashed worker's claims come due after it. */
  NOVA_PUSH_LEASE_MS: z.coerce.number().int().positive().default(30_000),
  /** The same (user, event) is pushed at most once inside this window. */
  NOVA_PUSH_DEDUP_WINDOW_MS: z.coerce.number().int().positive().default(60_000),
  /** Delivery logs are kept this long, ms. */
  NOVA_PUSH_LOG_RETENTION_MS: z.coerce
    .number()
    .int()
    .positive()
    .default(7 * 24 * 3600_000),
  /** `nova serve notifications`: its HTTP listener (`/pushers`, `/notifications`, `/_nova/v1/notifications`). */
  NOTIFICATIONS_HTTP_HOST: z.string().default("127.0.0.1"),
  NOTIFICATIONS_HTTP_PORT: z.coerce.number().int().min(0).max(65535).default(8011),
});

export type NotificationsEnv = z.infer<typeof notificationsEnvSchema>;

export type PushSettings = {
  timeoutMs: number;
  backoffMs: number;
  backoffMaxMs: number;
  giveUpMs: number;
  concurrency: number;
  leaseMs: number;
  dedupWindowMs: number;
  logRetentionMs: number;
};

export type NotificationsConfig = {
  notifications: {
    push: PushSettings;
    httpHost: string;
    httpPort: number;
  };
};

export function notificationsConfig(e: NotificationsEnv): NotificationsConfig {
  return {
    notifications: {
      push: {
        timeoutMs: e.NOVA_PUSH_TIMEOUT_MS,
        backoffMs: e.NOVA_PUSH_BACKOFF_MS,
        backoffMaxMs: Math.max(e.NOVA_PUSH_BACKOFF_MAX_MS, e.NOVA_PUSH_BACKOFF_MS),
        giveUpMs: e.NOVA_PUSH_GIVE_UP_MS,
        concurrency: e.NOVA_PUSH_CONCURRENCY,
        leaseMs: e.NOVA_PUSH_LEASE_MS,
        dedupWindowMs: e.NOVA_PUSH_DEDUP_WINDOW_MS,
        logRetentionMs: e.NOVA_PUSH_LOG_RETENTION_MS,
      },
      httpHost: e.NOTIFICATIONS_HTTP_HOST,
      httpPort: e.NOTIFICATIONS_HTTP_PORT,
    },
  };
}
