import type { Redis } from "ioredis";
import type { TimelineEntry, TimelinePosition, TimelineStore } from "./timeline-store.ts";

/** Timelines written per pipeline: large enough to amortise round trips, small enough to interleave. */
const BATCH = 2_000;
/** Pipelines in flight at once during a fan-out. */
const IN_FLIGHT = 4;

/**
 * Timelines as Redis sorted sets, one per user (`<prefix>tl:<userId>`, member the post id, score
 * the post's created_at in ms). Equal scores order by member, which is the port's tie-break. Shared by
 * every feed replica; Redis persistence is optional: timelines are derived data.
 */
export class RedisTimelineStore implements TimelineStore {
  readonly kind = "redis" as const;

  constructor(
    private readonly redis: Redis,
    private readonly prefix = "nova:feed:",
  ) {}

  private key(userId: string): string {
    return `${this.prefix}tl:${userId}`;
  }

  async addToMany(userIds: readonly string[], entry: TimelineEntry, cap: number): Promise<void> {
    const batches: (readonly string[])[] = [];
    for (let i = 0; i < userIds.length; i += BATCH) batches.push(userIds.slice(i, i + BATCH));
    let next = 0;
    await Promise.all(
      Array.from({ length: Math.min(IN_FLIGHT, batches.length) }, async () => {
        while (next < batches.length) {
          const batch = batches[next++]!;
          const p = this.redis.pipeline();
          for (const u of batch) {
            const k = this.key(u);
            p.zadd(k, entry.score, entry.postId);
            p.zremrangebyrank(k, 0, -(cap + 1));
          }
          check(await p.exec());
        }
      }),
    );
  }

  async addMany(userId: string, entries: readonly TimelineEntry[], cap: number): Promise<void> {
    if (entries.length === 0) return;
    const k = this.key(userId);
    const args: (string | number)[] = [];
    for (const e of entries) args.push(e.score, e.postId);
    check(
      await this.redis
        .pipeline()
        .zadd(k, ...args)
        .zremrangebyrank(k, 0, -(cap + 1))
        .exec(),
    );
  }

  async removeFromMany(userIds: readonly string[], postId: string): Promise<void> {
    for (let i = 0; i < userIds.length; i += BATCH) {
      const p = this.redis.pipeline();
      for (const u of userIds.slice(i, i + BATCH)) p.zrem(this.key(u), postId);
      check(await p.exec());
    }
  }

  async removeMany(userId: string, postIds: readonly string[]): Promise<void> {
    if (postIds.length === 0) return;
    await this.redis.zrem(this.key(userId), ...postIds);
  }

  async page(userId: string, after: TimelinePosition | null, limit: number): Promise<TimelineEntry[]> {
    const k = this.key(userId);
    if (!after) return pairs(await this.redis.zrevrange(k, 0, limit - 1, "WITHSCORES"));
    // Members at the cursor's own score that sort below its id come first, then every lower score
    // (an exclusive bound): two reads in one round trip, exact however many posts share a ms.
    const [same, lower] = check(
      await this.redis
        .pipeline()
        .zrevrangebyscore(k, after.score, after.score)
        .zrevrangebyscore(k, `(${after.score}`, "-inf", "WITHSCORES", "LIMIT", 0, limit)
        .exec(),
    ) as [string[], string[]];
    const out: TimelineEntry[] = [];
    for (const postId of same) {
      if (postId < after.postId) out.push({ postId, score: after.score });
      if (out.length >= limit) return out;
    }
    for (const e of pairs(lower)) {
      out.push(e);
      if (out.length >= limit) break;
    }
    return out;
  }

  async oldest(userId: string): Promise<TimelineEntry | null> {
    return pairs(await this.redis.zrange(this.key(userId), 0, "0", "WITHSCORES"))[0] ?? null;
  }

  async markFanIn(authorId: string): Promise<void> {
    await this.redis.sadd(`${this.prefix}fanin`, authorId);
  }

  async fanInAmong(authorIds: readonly string[]): Promise<Set<string>> {
    if (authorIds.length === 0) return new Set();
    const flags = await this.redis.smismember(`${this.prefix}fanin`, ...authorIds);
    return new Set(authorIds.filter((_, i) => flags[i] === 1));
  }

  async close(): Promise<void> {}
}

function pairs(flat: string[]): TimelineEntry[] {
  const out: TimelineEntry[] = [];
  for (let i = 0; i + 1 < flat.length; i += 2) out.push({ postId: flat[i]!, score: Number(flat[i + 1]) });
  return out;
}

/** A pipeline's results, throwing the first command error (ioredis reports them per command). */
function check(results: [Error | null, unknown][] | null): unknown[] {
  if (!results) throw new Error("Redis pipeline was not executed");
  const out: unknown[] = [];
  for (const [err, v] of results) {
    if (err) throw err;
    out.push(v);
  }
  return out;
}
