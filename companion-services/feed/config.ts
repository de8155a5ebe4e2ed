import { z } from "zod";

/**
 * The feed service's settings. One part of the process's configuration (server/config.ts composes
 * it and parses the environment once). Documented in docs/social.md (Feed).
 */
export const feedEnvSchema = z.object({
  /**
   * An author with more followers than this is not fanned out on write: each reader's feed
   * fetches that author's posts at read time instead (one write of 100,000 timelines per post
   * is what this avoids).
   */
  NOVA_FEED_FANOUT_THRESHOLD: z.coerce.number().int().nonnegative().default(10_000),
  /** Posts kept per timeline; older ones are trimmed (and, for fan-in authors, not fetched). */
  NOVA_FEED_TIMELINE_CAP: z.coerce.number().int().min(10).max(100_000).default(800),
  /** Recent posts of a newly followed author copied into the follower's timeline; 0 is off. */
  NOVA_FEED_BACKFILL: z.coerce.number().int().nonnegative().max(1_000).default(50),
  /** How long a reader's following list is reused, ms (follow events clear it in this process). */
  NOVA_FEED_FOLLOWING_TTL_MS: z.coerce.number().int().nonnegative().default(30_000),
  /** How long a fan-in author's recent posts are reused, ms: the delay before their new post shows. */
  NOVA_FEED_FANIN_TTL_MS: z.coerce.number().int().nonnegative().default(1_000),
  /** `nova serve feed`: its HTTP listener (`/_nova/v1/feed*`). */
  FEED_HTTP_HOST: z.string().default("127.0.0.1"),
  FEED_HTTP_PORT: z.coerce.number().int().min(0).max(65535).default(8014),
});

export type FeedEnv = z.infer<typeof feedEnvSchema>;

export type FeedSettings = {
  fanoutThreshold: number;
  timelineCap: number;
  backfill: number;
  followingTtlMs: number;
  fanInTtlMs: number;
};

export type FeedConfig = {
  feed: FeedSettings & { httpHost: string; httpPort: number };
};

export const DEFAULT_FEED_SETTINGS: FeedSettings = {
  fanoutThreshold: 10_000,
  timelineCap: 800,
  backfill: 50,
  followingTtlMs: 30_000,
  fanInTtlMs: 1_000,
};

export function feedConfig(e: FeedEnv): FeedConfig {
  return {
    feed: {
      fanoutThreshold: e.NOVA_FEED_FANOUT_THRESHOLD,
      timelineCap: e.NOVA_FEED_TIMELINE_CAP,
      backfill: e.NOVA_FEED_BACKFILL,
      followingTtlMs: e.NOVA_FEED_FOLLOWING_TTL_MS,
      fanInTtlMs: e.NOVA_FEED_FANIN_TTL_MS,
      httpHost: e.FEED_HTTP_HOST,
      httpPort: e.FEED_HTTP_PORT,
    },
  };
}
