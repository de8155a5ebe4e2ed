import { RATE_LIMIT_DEFAULTS } from "../../server/operations-config.ts";

/**
 * Every NOVA_RATELIMIT_* set far above what a test or benchmark does: the suites register many
 * users from 127.0.0.1 in seconds and the benchmarks send hundreds of messages per second from few
 * users, which production defaults refuse. The limiter still runs on every limited route (its cost
 * stays in the benchmarks); tests of the limits themselves set their own values after these.
 */
export const GENEROUS_RATE_LIMITS: Record<string, string> = Object.fromEntries(
  Object.keys(RATE_LIMIT_DEFAULTS).map((k) => [k, "100000:1000000"]),
);
