import { createRequire } from "node:module";
import type { Redis } from "ioredis";
import type { RateLimiterAbstract } from "rate-limiter-flexible";
import { limitExceeded } from "./errors.ts";

// The package's index loads every limiter it has (Mongo, MySQL, DynamoDB…, ~40 files); these are
// its own modules of the three classes used, each its module.exports (the package has no
// "exports" map, so the paths are public). The Redis one loads with the first Redis bucket.
type Limiters = typeof import("rate-limiter-flexible");
const load = createRequire(import.meta.url);
const RateLimiterMemory = load(
  "rate-limiter-flexible/lib/RateLimiterMemory.js",
) as Limiters["RateLimiterMemory"];
const RateLimiterRes = load("rate-limiter-flexible/lib/RateLimiterRes.js") as Limiters["RateLimiterRes"];
const redisLimiter = () =>
  load("rate-limiter-flexible/lib/RateLimiterRedis.js") as Limiters["RateLimiterRedis"];

/** A limit: `rate` requests per second in the long run, `burst` at once. */
export type LimitSpec = { rate: number; burst: number };

/**
 * One bucket per key (a user, an IP) with rate-limiter-flexible: a window of `burst` points
 * refilled over burst/rate seconds, so the burst is allowed at once and the rate is the long-run
 * average. In Redis when a client is given (every replica counts against the same bucket), with
 * this process's own bucket taking over while Redis is down; in memory otherwise.
 */
export function bucketLimiter(spec: LimitSpec, keyPrefix: string, redis?: Redis): RateLimiterAbstract {
  const window = { points: spec.burst, duration: Math.max(1, Math.ceil(spec.burst / spec.rate)) };
  return redis
    ? new (redisLimiter())({
        ...window,
        storeClient: redis,
        keyPrefix,
        insuranceLimiter: new RateLimiterMemory({ ...window, keyPrefix }),
      })
    : new RateLimiterMemory({ ...window, keyPrefix });
}

/** Takes one point for `key`; past the burst, 429 M_LIMIT_EXCEEDED with retry_after_ms. */
export async function takePoint(limiter: RateLimiterAbstract, key: string): Promise<void> {
  try {
    await limiter.consume(key);
  } catch (res) {
    if (res instanceof RateLimiterRes) throw limitExceeded(Math.max(1, res.msBeforeNext));
    throw res;
  }
}

/** `rate:burst` (e.g. `10:50`, `0.2:5`) or `off`, as NOVA_RATELIMIT_* values are written. */
export function parseLimitSpec(value: string): LimitSpec | null {
  if (value === "off") return null;
  const m = /^(\d+(?:\.\d+)?):(\d+)$/.exec(value);
  if (!m) throw new Error(`expected <per_second>:<burst> or off, got ${value}`);
  const rate = Number(m[1]);
  const burst = Number(m[2]);
  if (!(rate > 0) || burst < 1) throw new Error(`rate and burst must be positive, got ${value}`);
  return { rate, burst };
}
