import type { Redis } from "ioredis";
import type { RateLimiterAbstract } from "rate-limiter-flexible";
import { MatrixError } from "../companion-services/platform/errors.ts";
import type { Request, RequestLimiter } from "../companion-services/platform/http/router.ts";
import type { Logger } from "../companion-services/platform/logger.ts";
import { bucketLimiter, type LimitSpec, takePoint } from "../companion-services/platform/rate-limit.ts";
import { newRedis } from "../companion-services/platform/redis.ts";

/** The actions Nova limits; each has a per-user and a per-IP bucket (NOVA_RATELIMIT_<NAME>[_IP]). */
export const LIMITED_ACTIONS = [
  "send",
  "create_room",
  "register",
  "login",
  "join",
  "invite",
  "to_device",
  // Counted by the media service itself (companion-services/media/limits.ts), so that
  // `nova serve media` applies it too: no homeserver route below.
  "media_upload",
] as const;
export type LimitedAction = (typeof LIMITED_ACTIONS)[number];

/** Each action's buckets; null is off (register and login have no user before they succeed). */
export type RateLimitSettings = Record<LimitedAction, { user: LimitSpec | null; ip: LimitSpec | null }>;

const V3 = "/_matrix/client/v3";
/** Which routes (patterns as the router matched them; r0 and unstable paths map to v3) count. */
const ROUTE_ACTIONS: Record<string, LimitedAction> = {
  [`PUT ${V3}/rooms/:roomId/send/:type/:txnId`]: "send",
  [`POST ${V3}/rooms/:roomId/send/:type`]: "send",
  [`PUT ${V3}/rooms/:roomId/state/:type`]: "send",
  [`PUT ${V3}/rooms/:roomId/state/:type/:stateKey`]: "send",
  [`POST ${V3}/createRoom`]: "create_room",
  [`POST ${V3}/register`]: "register",
  [`POST ${V3}/login`]: "login",
  [`POST ${V3}/join/:target`]: "join",
  [`POST ${V3}/rooms/:roomId/join`]: "join",
  [`POST ${V3}/knock/:target`]: "join",
  [`POST ${V3}/rooms/:roomId/invite`]: "invite",
  [`PUT ${V3}/sendToDevice/:eventType/:txnId`]: "to_device",
};

/** How long a user's admin flag is trusted once looked up (only looked up when over a limit). */
const ADMIN_CACHE_MS = 60_000;

type Buckets = { user: RateLimiterAbstract | null; ip: RateLimiterAbstract | null };

/**
 * Per-user and per-IP buckets on the actions above (rate-limiter-flexible, in Redis when
 * REDIS_URL is set so replicas share them). Exempt: users in NOVA_RATELIMIT_EXEMPT and server
 * admins. The admin flag is only asked for once a bucket is empty, so the common path costs one
 * map lookup and, on limited routes, one or two bucket points.
 */
export class RateLimits implements RequestLimiter {
  private readonly byRoute = new Map<string, Buckets>();
  private readonly adminUntil = new Map<string, { admin: boolean; until: number }>();

  constructor(
    settings: RateLimitSettings,
    private readonly deps: {
      exempt: ReadonlySet<string>;
      isAdmin: (userId: string) => Promise<boolean>;
      redis?: Redis;
    },
  ) {
    const buckets = new Map<LimitedAction, Buckets>();
    for (const action of new Set(Object.values(ROUTE_ACTIONS))) {
      const s = settings[action];
      buckets.set(action, {
        user: s.user ? bucketLimiter(s.user, `nova_rl_${action}_user`, deps.redis) : null,
        ip: s.ip ? bucketLimiter(s.ip, `nova_rl_${action}_ip`, deps.redis) : null,
      });
    }
    for (const [key, action] of Object.entries(ROUTE_ACTIONS)) {
      const b = buckets.get(action)!;
      if (b.user || b.ip) this.byRoute.set(key, b);
    }
  }

  check(req: Request): Promise<void> | undefined {
    if (this.byRoute.size === 0) return undefined;
    const buckets = this.byRoute.get(`${req.method} ${req.route}`);
    return buckets ? this.take(buckets, req) : undefined;
  }

  private async take(buckets: Buckets, req: Request): Promise<void> {
    const userId = req.auth?.userId;
    try {
      if (buckets.user && userId) await takePoint(buckets.user, userId);
      if (buckets.ip) await takePoint(buckets.ip, req.ip);
    } catch (err) {
      if (err instanceof MatrixError && userId && (await this.isExempt(userId))) return;
      throw err;
    }
  }

  private async isExempt(userId: string): Promise<boolean> {
    if (this.deps.exempt.has(userId)) return true;
    const now = Date.now();
    const known = this.adminUntil.get(userId);
    if (known && known.until > now) return known.admin;
    const admin = await this.deps.isAdmin(userId);
    // Bounded: only users who hit a limit are remembered, and the oldest go first.
    if (this.adminUntil.size >= 10_000) this.adminUntil.delete(this.adminUntil.keys().next().value!);
    this.adminUntil.set(userId, { admin, until: now + ADMIN_CACHE_MS });
    return admin;
  }
}

/**
 * The homeserver's limits from its configuration: in Redis when REDIS_URL is set (its own
 * connection, closed by the caller), exempt users from NOVA_RATELIMIT_EXEMPT, admins from identity.
 */
export function rateLimitsFor(
  config: { rateLimits: RateLimitSettings; rateLimitExempt: string[]; redisUrl: string | undefined },
  identity: { getUser(userId: string): Promise<{ isAdmin: boolean } | null> },
  logger: Logger,
): { limits: RateLimits; redis: Redis | undefined } {
  const redis = config.redisUrl
    ? newRedis(config.redisUrl, { maxRetriesPerRequest: 2, enableOfflineQueue: false })
    : undefined;
  redis?.on("error", (err) =>
    logger.warn({ err }, "rate limits' Redis connection failed; limits fall back to this process"),
  );
  const limits = new RateLimits(config.rateLimits, {
    exempt: new Set(config.rateLimitExempt),
    isAdmin: async (userId) => (await identity.getUser(userId))?.isAdmin ?? false,
    redis,
  });
  return { limits, redis };
}
