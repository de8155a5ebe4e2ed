import { Counter, Gauge } from "prom-client";
import { registry } from "./metrics.ts";

const hits = new Counter({
  name: "nova_cache_hits_total",
  help: "Lookups answered from an in-process cache, by cache",
  labelNames: ["cache"] as const,
  registers: [registry],
});
const misses = new Counter({
  name: "nova_cache_misses_total",
  help: "Lookups an in-process cache could not answer, by cache",
  labelNames: ["cache"] as const,
  registers: [registry],
});
const entries = new Gauge({
  name: "nova_cache_entries",
  help: "Entries held by an in-process cache, by cache",
  labelNames: ["cache"] as const,
  registers: [registry],
});

export type CacheMetrics = { hit(): void; miss(): void; size(n: number): void };

/**
 * The metrics of one named cache. Children are bound once so a lookup costs one increment and no
 * label resolution; a process may hold several instances of a cache (tests), which then add up.
 */
export function cacheMetrics(cache: string): CacheMetrics {
  const h = hits.labels(cache);
  const m = misses.labels(cache);
  const e = entries.labels(cache);
  return { hit: () => h.inc(), miss: () => m.inc(), size: (n) => e.set(n) };
}
