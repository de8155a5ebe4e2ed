import type { ContentClient } from "../content/client.ts";
import { type GraphClient, MAX_FOLLOW_PAGE } from "../graph/client.ts";
import type { Logger } from "../platform/logger.ts";
import type { FeedSettings } from "./config.ts";
import type { TimelineEntry, TimelineStore } from "./timeline-store.ts";

/** Posts of an author read per getUserPosts call when backfilling or unfollowing. */
const POSTS_PAGE = 100;

export type FanOutResult = { mode: "fan-out"; timelines: number } | { mode: "fan-in" };

/**
 * The write side of the feed: what post and follow events do to timelines. Every effect is
 * idempotent (a sorted-set add of the same post and score, a removal of an absent one), so the
 * consumers need no processed-events bookkeeping and a redelivery changes nothing.
 */
export class FeedWriter {
  constructor(
    private readonly store: TimelineStore,
    private readonly graph: GraphClient,
    private readonly content: ContentClient,
    private readonly settings: FeedSettings,
    private readonly logger: Logger,
    private readonly onFollowChange: (followerId: string) => void = () => {},
    private readonly onAuthorChange: (authorId: string) => void = () => {},
  ) {}

  /**
   * A published post into every follower's timeline and the author's own, page by page of
   * followers; an author over the threshold is marked fan-in instead (readers fetch their posts).
   */
  async published(post: { postId: string; authorId: string; createdAt: number }): Promise<FanOutResult> {
    this.onAuthorChange(post.authorId);
    const entry: TimelineEntry = { postId: post.postId, score: post.createdAt };
    const { fanoutThreshold: threshold, timelineCap: cap } = this.settings;
    if ((await this.store.fanInAmong([post.authorId])).size > 0) return { mode: "fan-in" };
    const meta = await this.graph.getSocialMetadata(post.authorId);
    if (meta && meta.followerCount > threshold) {
      await this.store.markFanIn(post.authorId);
      return { mode: "fan-in" };
    }
    await this.store.addToMany([post.authorId], entry, cap);
    let timelines = 1;
    let from: string | null = null;
    do {
      const page = await this.graph.getUserFollowers(post.authorId, { from, limit: MAX_FOLLOW_PAGE });
      if (timelines - 1 + page.items.length > threshold) {
        // The counts lagged behind the edges: the author is over the threshold after all. The
        // timelines already written keep the post; readers merge it once (ids are unique).
        await this.store.markFanIn(post.authorId);
        this.logger.info(
          { authorId: post.authorId },
          "author crossed the fan-out threshold while fanning out",
        );
        return { mode: "fan-in" };
      }
      await this.store.addToMany(
        page.items.map((f) => f.userId),
        entry,
        cap,
      );
      timelines += page.items.length;
      from = page.next;
    } while (from);
    return { mode: "fan-out", timelines };
  }

  /** A deleted post out of the author's followers' timelines (readers also drop what content no longer returns). */
  async deleted(post: { postId: string; authorId: string }): Promise<void> {
    this.onAuthorChange(post.authorId);
    await this.store.removeFromMany([post.authorId], post.postId);
    let from: string | null = null;
    do {
      const page = await this.graph.getUserFollowers(post.authorId, { from, limit: MAX_FOLLOW_PAGE });
      await this.store.removeFromMany(
        page.items.map((f) => f.userId),
        post.postId,
      );
      from = page.next;
    } while (from);
  }

  /**
   * An edit. Visibility does not change who has the post in their timeline: timelines hold only
   * followers' (and the author's own), who may see both public and followers-only posts, and the
   * text is hydrated fresh at every read. Only the fan-in cache of the author is dropped here.
   */
  async updated(post: { authorId: string }): Promise<void> {
    this.onAuthorChange(post.authorId);
  }

  /** A new follow: the followee's recent posts into the follower's timeline (fan-in authors need none). */
  async followed(followerId: string, followeeId: string): Promise<void> {
    this.onFollowChange(followerId);
    const n = this.settings.backfill;
    if (n === 0 || (await this.store.fanInAmong([followeeId])).size > 0) return;
    const page = await this.content.getUserPosts(followeeId, { limit: Math.min(n, POSTS_PAGE) });
    const entries = page.items.slice(0, n).map((p) => ({ postId: p.id, score: p.createdAt }));
    await this.store.addMany(followerId, entries, this.settings.timelineCap);
  }

  /**
   * An unfollow: the followee's posts out of the follower's timeline, reading the followee's posts
   * back only as far as the timeline reaches. Readers also filter by whom they follow, so a post
   * this misses is never shown either.
   */
  async unfollowed(followerId: string, followeeId: string): Promise<void> {
    this.onFollowChange(followerId);
    const oldest = await this.store.oldest(followerId);
    if (!oldest) return;
    let from: string | null = null;
    let read = 0;
    do {
      const page = await this.content.getUserPosts(followeeId, { from, limit: POSTS_PAGE });
      await this.store.removeMany(
        followerId,
        page.items.map((p) => p.id),
      );
      read += page.items.length;
      const last = page.items[page.items.length - 1];
      if (!last || last.createdAt < oldest.score) break;
      from = page.next;
    } while (from && read < this.settings.timelineCap * 2);
  }
}
