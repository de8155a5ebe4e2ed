import { z } from "zod";
import { splitList } from "../companion-services/platform/config.ts";
import { isAddressOrRange } from "../companion-services/platform/http/client-ip.ts";
import { type LimitSpec, parseLimitSpec } from "../companion-services/platform/rate-limit.ts";
import { LIMITED_ACTIONS, type RateLimitSettings } from "./rate-limits.ts";

/** `<per_second>:<burst>` or `off` (rate-limit.ts parseLimitSpec). */
const limit = (byDefault: string) =>
  z
    .string()
    .regex(/^(off|\d+(\.\d+)?:[1-9]\d*)$/, "expected <per_second>:<burst> or off")
    .default(byDefault);

/**
 * Rate limit defaults, `<per_second>:<burst>` per user and per IP. Sane for production and above
 * Synapse's (message 0.2/s burst 10, registration and login 0.17/s burst 3); per-IP buckets are
 * wider since users behind one NAT or proxy share an address. Tests and benchmarks set their own
 * (test/helpers/rate-limits.ts).
 */
export const RATE_LIMIT_DEFAULTS: Record<string, string> = {
  NOVA_RATELIMIT_SEND: "10:50",
  NOVA_RATELIMIT_SEND_IP: "100:500",
  NOVA_RATELIMIT_CREATE_ROOM: "0.5:10",
  NOVA_RATELIMIT_CREATE_ROOM_IP: "2:20",
  NOVA_RATELIMIT_REGISTER_IP: "0.2:5",
  NOVA_RATELIMIT_LOGIN_IP: "0.5:10",
  NOVA_RATELIMIT_JOIN: "1:20",
  NOVA_RATELIMIT_JOIN_IP: "10:100",
  NOVA_RATELIMIT_INVITE: "1:20",
  NOVA_RATELIMIT_INVITE_IP: "10:100",
  NOVA_RATELIMIT_TO_DEVICE: "20:100",
  NOVA_RATELIMIT_TO_DEVICE_IP: "200:1000",
  // POST /_matrix/media/v3/upload, POST /_matrix/media/v1/create and the async PUT (media applies it).
  NOVA_RATELIMIT_MEDIA_UPLOAD: "10:50",
  NOVA_RATELIMIT_MEDIA_UPLOAD_IP: "100:500",
};
const rateLimitShape = Object.fromEntries(
  Object.entries(RATE_LIMIT_DEFAULTS).map(([k, v]) => [k, limit(v)]),
) as Record<keyof typeof RATE_LIMIT_DEFAULTS, ReturnType<typeof limit>>;

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
  /**
   * The admin listener: /metrics, /health and /ready on their own port (docs/monitoring.md).
   * Unset, there is none and /metrics on the client port needs a server admin's access token.
   */
  NOVA_ADMIN_PORT: z.coerce.number().int().min(0).max(65535).optional(),
  /** Its address: loopback unless an operator opens it (e.g. 0.0.0.0 inside a container). */
  NOVA_ADMIN_HOST: z.string().min(1).default("127.0.0.1"),
  /**
   * Reverse proxies whose X-Forwarded-For is believed (addresses or CIDR ranges, comma-separated).
   * Unset, the client address is the connection's peer: behind a proxy, per-IP rate limits and the
   * request log would see only the proxy.
   */
  NOVA_TRUSTED_PROXIES: z
    .string()
    .default("")
    .refine((v) => splitList(v).every(isAddressOrRange), "expected IP addresses or CIDR ranges"),
  /** Requests slower than this (ms) are logged at warn with `slow: true`; long-polls are exempt. */
  NOVA_SLOW_REQUEST_MS: z.coerce.number().int().positive().default(1000),
  // Rate limits: NOVA_RATELIMIT_<ACTION> per user, NOVA_RATELIMIT_<ACTION>_IP per IP.
  ...rateLimitShape,
  /** User ids never rate limited (server admins never are either). */
  NOVA_RATELIMIT_EXEMPT: z.string().default(""),
});

export type OperationsEnv = z.infer<typeof operationsEnvSchema>;

export type OperationsConfig = {
  /** NOVA_REUSE_PORT: the client listeners (homeserver, media, notifications) share their port. */
  reusePort: boolean;
  /** NOVA_ADMIN_PORT / NOVA_ADMIN_HOST; null when there is no admin listener. */
  adminListener: { host: string; port: number } | null;
  /** NOVA_TRUSTED_PROXIES. */
  trustedProxies: string[];
  /** NOVA_SLOW_REQUEST_MS: the request log's slow threshold. */
  slowRequestMs: number;
  /** Per-user and per-IP rate limits (server/rate-limits.ts); null is off. */
  rateLimits: RateLimitSettings;
  /** NOVA_RATELIMIT_EXEMPT. */
  rateLimitExempt: string[];
};

export function operationsConfig(e: OperationsEnv): OperationsConfig {
  return {
    reusePort: e.NOVA_REUSE_PORT,
    adminListener:
      e.NOVA_ADMIN_PORT === undefined ? null : { host: e.NOVA_ADMIN_HOST, port: e.NOVA_ADMIN_PORT },
    trustedProxies: splitList(e.NOVA_TRUSTED_PROXIES),
    slowRequestMs: e.NOVA_SLOW_REQUEST_MS,
    rateLimits: rateLimitSettings(e as unknown as Record<string, string | undefined>),
    rateLimitExempt: splitList(e.NOVA_RATELIMIT_EXEMPT),
  };
}

function rateLimitSettings(e: Record<string, string | undefined>): RateLimitSettings {
  const spec = (name: string): LimitSpec | null => {
    const v = e[name];
    return v === undefined ? null : parseLimitSpec(v);
  };
  const out = {} as RateLimitSettings;
  for (const action of LIMITED_ACTIONS) {
    const name = `NOVA_RATELIMIT_${action.toUpperCase()}`;
    out[action] = { user: spec(name), ip: spec(`${name}_IP`) };
  }
  return out;
}
