import { createRequire } from "node:module";
import type { Redis, RedisOptions } from "ioredis";

// ioredis (and its dependencies, ~60 files) loads with the first client: only a process with
// REDIS_URL set makes one. A synchronous require (ioredis is CommonJS) keeps each client made
// exactly where and when it was before, so a bad REDIS_URL still fails during start.
const load = createRequire(import.meta.url);

/** A new ioredis client, as `new Redis(url, options)`. */
export function newRedis(url: string, options: RedisOptions): Redis {
  const { Redis: Client } = load("ioredis") as typeof import("ioredis");
  return new Client(url, options);
}
