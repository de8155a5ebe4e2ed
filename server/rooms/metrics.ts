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

export type CacheName = "snapshots" | "timelines" | "user_rooms" | "txn_ids";
const CACHE_NAMES: readonly CacheName[] = ["snapshots", "timelines", "user_rooms", "txn_ids"];

/** Plain counts per cache, read at scrape time: a lookup pays an increment, no label hashing. */
type Tally = { hits: number; misses: number; size: number };
const tallies = new Map<CacheName, Tally>(CACHE_NAMES.map((n) => [n, { hits: 0, misses: 0, size: 0 }]));
/** What the counters were last given, so each scrape adds only what happened since. */
const reported = new Map<CacheName, { hits: number; misses: number }>(
  CACHE_NAMES.map((n) => [n, { hits: 0, misses: 0 }]),
);

export const cacheHits = new Counter({
  name: "nova_rooms_cache_hits_total",
  help: "Lookups answered from a rooms cache, by cache",
  labelNames: ["cache"] as const,
  registers: [registry],
  collect() {
    for (const [cache, t] of tallies) {
      const r = reported.get(cache)!;
      this.inc({ cache }, t.hits - r.hits);
      r.hits = t.hits;
    }
  },
});

export const cacheMisses = new Counter({
  name: "nova_rooms_cache_misses_total",
  help: "Lookups a rooms cache could not answer (read from the database), by cache",
  labelNames: ["cache"] as const,
  registers: [registry],
  collect() {
    for (const [cache, t] of tallies) {
      const r = reported.get(cache)!;
      this.inc({ cache }, t.misses - r.misses);
      r.misses = t.misses;
    }
  },
});

export const cacheSize = new Gauge({
  name: "nova_rooms_cache_size",
  help: "Entries held by the rooms caches of this process, by cache (rooms, users or transaction ids)",
  labelNames: ["cache"] as const,
  registers: [registry],
  collect() {
    for (const [cache, t] of tallies) this.set({ cache }, t.size);
  },
});

/** One cache instance's side of the tallies (several instances add up: tests run many servers). */
export class CacheMetrics {
  private readonly tally: Tally;
  private size = 0;

  constructor(name: CacheName) {
    this.tally = tallies.get(name)!;
  }

  hit(): void {
    this.tally.hits++;
  }

  miss(): void {
    this.tally.misses++;
  }

  /** The cache now holds `n` entries. */
  sized(n: number): void {
    this.tally.size += n - this.size;
    this.size = n;
  }
}
