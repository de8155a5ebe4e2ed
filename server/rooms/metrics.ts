import { Counter, Gauge, Histogram } from "prom-client";
import { registry } from "../../companion-services/platform/metrics.ts";

/** Events per group commit (write/batcher.ts). */
export const writeBatchSize = new Histogram({
  name: "nova_rooms_write_batch_size",
  help: "Events committed together by the rooms write batcher (one statement per batch)",
  buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256],
  registers: [registry],
});

/** From a write's submit to the start of the batch that carries it. */
export const writeQueueWait = new Histogram({
  name: "nova_rooms_write_queue_wait_seconds",
  help: "Time a single-event write waited in the rooms write batcher before its batch started",
  buckets: [0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1],
  registers: [registry],
});

const cacheHits = new Counter({
  name: "nova_rooms_cache_hits_total",
  help: "Lookups answered from a rooms cache, by cache",
  labelNames: ["cache"] as const,
  registers: [registry],
});

const cacheMisses = new Counter({
  name: "nova_rooms_cache_misses_total",
  help: "Lookups a rooms cache could not answer (read from the database), by cache",
  labelNames: ["cache"] as const,
  registers: [registry],
});

const cacheSize = new Gauge({
  name: "nova_rooms_cache_size",
  help: "Entries held by a rooms cache, by cache (rooms, users or transaction ids)",
  labelNames: ["cache"] as const,
  registers: [registry],
});

export type CacheName = "snapshots" | "timelines" | "user_rooms" | "txn_ids";

/** One cache's counters, bound to its label once so a lookup costs no label hashing. */
export type CacheMetrics = {
  hit: () => void;
  miss: () => void;
  size: (n: number) => void;
};

export function cacheMetrics(name: CacheName): CacheMetrics {
  const hits = cacheHits.labels(name);
  const misses = cacheMisses.labels(name);
  const size = cacheSize.labels(name);
  return { hit: () => hits.inc(), miss: () => misses.inc(), size: (n) => size.set(n) };
}
