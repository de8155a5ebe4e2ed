import { z } from "zod";

const bool = z.enum(["0", "1", "false", "true"]).transform((v) => v === "1" || v === "true");

/**
 * Operating settings (issue 16): how listeners bind, the request log, the admin listener and
 * rate limits. One part of the process's configuration (server/config.ts composes it and parses
 * the environment once). Documented in docs/monitoring.md.
 */
export const operationsEnvSchema = z.object({
  /**
   * Share the HTTP port with other processes (SO_REUSEPORT), for replicas behind one port. Off:
   * a port already in use refuses start with `address in use: host:port` and exit code 2.
   */
  NOVA_REUSE_PORT: bool.default(false),
  /** Requests slower than this (ms) are logged at warn with `slow: true`; long-polls are exempt. */
  NOVA_SLOW_REQUEST_MS: z.coerce.number().int().positive().default(1000),
});

export type OperationsEnv = z.infer<typeof operationsEnvSchema>;

export type OperationsConfig = {
  /** NOVA_REUSE_PORT: the client listeners (homeserver, media, notifications) share their port. */
  reusePort: boolean;
  /** NOVA_SLOW_REQUEST_MS: the request log's slow threshold. */
  slowRequestMs: number;
};

export function operationsConfig(e: OperationsEnv): OperationsConfig {
  return {
    reusePort: e.NOVA_REUSE_PORT,
    slowRequestMs: e.NOVA_SLOW_REQUEST_MS,
  };
}
