/**
 * Per-user home timelines: post ids ordered newest first by the post's created_at (content's
 * own order), ties broken by post id (descending), so (score, post id) is a total order and a
 * cursor at one item is exact. Two implementations behind this port: Redis sorted sets
 * (timeline-redis.ts, when REDIS_URL is set, shared by every feed replica) and an in-process one
 * (timeline-memory.ts, embedded mode).
 */
export type TimelineEntry = { postId: string; score: number };

/** A position in a timeline: items strictly after it (older, or same score and a lower id) follow. */
export type TimelinePosition = { score: number; postId: string };

export interface TimelineStore {
  readonly kind: "redis" | "memory";
  /** Adds one post to each of these timelines (idempotent), trimming each to `cap` newest. */
  addToMany(userIds: readonly string[], entry: TimelineEntry, cap: number): Promise<void>;
  /** Adds several posts to one timeline (a follow's backfill), trimming it to `cap`. */
  addMany(userId: string, entries: readonly TimelineEntry[], cap: number): Promise<void>;
  /** Removes one post from each of these timelines (absent ones are fine). */
  removeFromMany(userIds: readonly string[], postId: string): Promise<void>;
  /** Removes these posts from one timeline (an unfollow). */
  removeMany(userId: string, postIds: readonly string[]): Promise<void>;
  /** Up to `limit` entries strictly after `after` (or from the newest), newest first. */
  page(userId: string, after: TimelinePosition | null, limit: number): Promise<TimelineEntry[]>;
  /** The oldest entry kept, or null for an empty timeline. */
  oldest(userId: string): Promise<TimelineEntry | null>;
  /** Authors read at read time (fan-in): once marked, an author stays marked. */
  markFanIn(authorId: string): Promise<void>;
  fanInAmong(authorIds: readonly string[]): Promise<Set<string>>;
  close(): Promise<void>;
}

/** The total order of timelines: negative when `a` comes first (newer). */
export function compareEntries(a: TimelinePosition, b: TimelinePosition): number {
  if (a.score !== b.score) return b.score - a.score;
  return a.postId < b.postId ? 1 : a.postId > b.postId ? -1 : 0;
}

/** Whether `e` comes strictly after the position (is older). */
export function isAfter(e: TimelinePosition, after: TimelinePosition | null): boolean {
  return after === null || compareEntries(e, after) > 0;
}
