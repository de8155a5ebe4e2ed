import { isAfter, type TimelineEntry, type TimelinePosition, type TimelineStore } from "./timeline-store.ts";

/**
 * Timelines in this process (embedded mode, no REDIS_URL): one array per user kept in timeline
 * order, inserted into by binary search. Lost on restart, like a Redis without persistence: the
 * feed is derived data, and readers still see fan-in authors and new posts.
 */
export class MemoryTimelineStore implements TimelineStore {
  readonly kind = "memory" as const;
  private readonly timelines = new Map<string, TimelineEntry[]>();
  private readonly fanIn = new Set<string>();

  async addToMany(userIds: readonly string[], entry: TimelineEntry, cap: number): Promise<void> {
    for (const u of userIds) this.insert(u, entry, cap);
  }

  async addMany(userId: string, entries: readonly TimelineEntry[], cap: number): Promise<void> {
    for (const e of entries) this.insert(userId, e, cap);
  }

  async removeFromMany(userIds: readonly string[], postId: string): Promise<void> {
    for (const u of userIds) this.removeOne(u, postId);
  }

  async removeMany(userId: string, postIds: readonly string[]): Promise<void> {
    const drop = new Set(postIds);
    const list = this.timelines.get(userId);
    if (!list) return;
    const kept = list.filter((e) => !drop.has(e.postId));
    if (kept.length === 0) this.timelines.delete(userId);
    else this.timelines.set(userId, kept);
  }

  async page(userId: string, after: TimelinePosition | null, limit: number): Promise<TimelineEntry[]> {
    const list = this.timelines.get(userId) ?? [];
    const start = after ? this.firstAfter(list, after) : 0;
    return list.slice(start, start + limit).map((e) => ({ ...e }));
  }

  async oldest(userId: string): Promise<TimelineEntry | null> {
    const list = this.timelines.get(userId);
    return list && list.length > 0 ? { ...list[list.length - 1]! } : null;
  }

  async markFanIn(authorId: string): Promise<void> {
    this.fanIn.add(authorId);
  }

  async fanInAmong(authorIds: readonly string[]): Promise<Set<string>> {
    return new Set(authorIds.filter((a) => this.fanIn.has(a)));
  }

  async close(): Promise<void> {
    this.timelines.clear();
  }

  private insert(userId: string, entry: TimelineEntry, cap: number): void {
    let list = this.timelines.get(userId);
    if (!list) {
      list = [];
      this.timelines.set(userId, list);
    }
    // Same post again (a redelivery, or a re-publish with another score): one entry, the new score.
    const existing = list.findIndex((e) => e.postId === entry.postId);
    if (existing >= 0) {
      if (list[existing]!.score === entry.score) return;
      list.splice(existing, 1);
    }
    const at = this.firstAfter(list, entry);
    if (at >= cap) return;
    list.splice(at, 0, { postId: entry.postId, score: entry.score });
    if (list.length > cap) list.length = cap;
  }

  private removeOne(userId: string, postId: string): void {
    const list = this.timelines.get(userId);
    if (!list) return;
    const i = list.findIndex((e) => e.postId === postId);
    if (i >= 0) list.splice(i, 1);
    if (list.length === 0) this.timelines.delete(userId);
  }

  /** Index of the first entry strictly after `pos` (list in timeline order). */
  private firstAfter(list: TimelineEntry[], pos: TimelinePosition): number {
    let lo = 0;
    let hi = list.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (isAfter(list[mid]!, pos)) hi = mid;
      else lo = mid + 1;
    }
    return lo;
  }
}
