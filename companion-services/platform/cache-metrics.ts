import { Counter, Gauge } from "prom-client";
import { registry } from "./metrics.ts";

/**
 * Hits, misses and entries of every in-process cache, by cache name. A lookup adds to a plain
 * number and the metrics read the numbers when scraped: a labelled prom-client `inc()` would
 * resolve its label set on every call, and some caches are asked several times per sync.
 */
type Tally = { hits: number; misses: number; size: number };
const tallies = new Map<string, Tally>();
/** What the counters were last given, so each scrape adds only what happened since. */
const reported = new Map<string, { hits: number; misses: number }>();

function tallyOf(cache: string): Tally {
  let t = tallies.get(cache);
  if (!t) {
    t = { hits: 0, misses: 0, size: 0 };
    tallies.set(cache, t);
    reported.set(cache, { hits: 0, misses: 0 });
  }
  return t;
}

/** A counter of one of the tallies' fields, given at each scrape what was added since the last. */
function tallyCounter(name: string, help: string, field: "hits" | "misses"): void {
  new Counter({
    name,
    help,
    labelNames: ["cache"] as const,
    registers: [registry],
    collect() {
      for (const [cache, t] of tallies) {
        const r = reported.get(cache)!;
        this.inc({ cache }, t[field] - r[field]);
        r[field] = t[field];
      }
    },
  });
}

tallyCounter("nova_cache_hits_total", "Lookups answered from an in-process cache, by cache", "hits");
tallyCounter(
  "nova_cache_misses_total",
  "Lookups an in-process cache could not answer (read from the database or another service), by cache",
  "misses",
);

new Gauge({
  name: "nova_cache_entries",
  help: "Entries held by the in-process caches of this process, by cache",
  labelNames: ["cache"] as const,
  registers: [registry],
  collect() {
    for (const [cache, t] of tallies) this.set({ cache }, t.size);
  },
});

/** One cache instance's share of its cache's tallies (instances add up: tests run many servers). */
export class CacheMetrics {
  private readonly tally: Tally;
  private size = 0;

  constructor(cache: string) {
    this.tally = tallyOf(cache);
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
