import { CacheMetrics } from "../platform/cache-metrics.ts";

/**
 * A bounded map that forgets the least recently used entry, reporting through nova_cache_*{cache}.
 * Media rows and thumbnail lists change only by growing (bytes arrive once, thumbnails are added),
 * so each process can keep them; a miss only costs the query it saves.
 */
export class Lru<K, V> {
  private readonly map = new Map<K, V>();
  private readonly metrics: CacheMetrics;

  constructor(
    name: string,
    private readonly capacity: number,
  ) {
    this.metrics = new CacheMetrics(name);
  }

  get(key: K): V | undefined {
    const v = this.map.get(key);
    if (v === undefined) {
      this.metrics.miss();
      return undefined;
    }
    this.metrics.hit();
    // Re-insert: a Map iterates in insertion order, so the first key is the least recent.
    this.map.delete(key);
    this.map.set(key, v);
    return v;
  }

  set(key: K, value: V): void {
    this.map.delete(key);
    this.map.set(key, value);
    if (this.map.size > this.capacity) {
      const oldest = this.map.keys().next();
      if (!oldest.done) this.map.delete(oldest.value);
    }
    this.metrics.sized(this.map.size);
  }

  delete(key: K): void {
    this.map.delete(key);
    this.metrics.sized(this.map.size);
  }
}
