import { randomUUID } from "node:crypto";
import type { ContentClient, PostPage, PostView } from "../../companion-services/content/client.ts";
import { contentEvent, snapshotOf } from "../../companion-services/content/events.ts";
import type {
  FollowEdge,
  FollowPage,
  GraphClient,
  PageRequest,
  SocialMetadata,
} from "../../companion-services/graph/client.ts";
import { graphEvent } from "../../companion-services/graph/events.ts";
import { toRecord } from "../../companion-services/platform/envelope.ts";
import type { EventBus } from "../../companion-services/platform/event-bus.ts";

/** Offsets as cursors: enough for a fake (the real services' cursors are their own). */
function pageOf<T>(
  list: T[],
  page: { from?: string | null; limit: number },
): { items: T[]; next: string | null } {
  const start = page.from ? Number(page.from) : 0;
  const items = list.slice(start, start + page.limit);
  return { items, next: start + items.length < list.length ? String(start + items.length) : null };
}

/** Graph in memory: follow edges newest first, counts from the edges (or forced, to test lag). */
export class FakeGraph implements GraphClient {
  private readonly followers = new Map<string, FollowEdge[]>();
  private readonly following = new Map<string, FollowEdge[]>();
  /** Follower counts to report instead of the real ones (graph's counts lag its edges). */
  readonly reportedFollowers = new Map<string, number>();
  calls = { followers: 0, following: 0 };

  follow(followerId: string, followeeId: string, at = Date.now()): void {
    if (this.isFollowingSync(followerId, followeeId)) return;
    list(this.followers, followeeId).unshift({ userId: followerId, followedAt: at });
    list(this.following, followerId).unshift({ userId: followeeId, followedAt: at });
  }

  /** Many followers at once (benchmarks: 100,000 edges), without the duplicate check. */
  addFollowers(followeeId: string, followerIds: string[], at = Date.now()): void {
    const l = list(this.followers, followeeId);
    for (const f of followerIds) {
      l.push({ userId: f, followedAt: at });
      list(this.following, f).push({ userId: followeeId, followedAt: at });
    }
  }

  unfollow(followerId: string, followeeId: string): void {
    this.followers.set(
      followeeId,
      (this.followers.get(followeeId) ?? []).filter((e) => e.userId !== followerId),
    );
    this.following.set(
      followerId,
      (this.following.get(followerId) ?? []).filter((e) => e.userId !== followeeId),
    );
  }

  async getUserFollowing(userId: string, page: PageRequest): Promise<FollowPage> {
    this.calls.following++;
    return pageOf(this.following.get(userId) ?? [], page);
  }

  async getUserFollowers(userId: string, page: PageRequest): Promise<FollowPage> {
    this.calls.followers++;
    return pageOf(this.followers.get(userId) ?? [], page);
  }

  async isFollowing(followerId: string, followeeId: string): Promise<boolean> {
    return this.isFollowingSync(followerId, followeeId);
  }

  async getSocialMetadata(userId: string): Promise<SocialMetadata | null> {
    return {
      userId,
      followerCount: this.reportedFollowers.get(userId) ?? this.followers.get(userId)?.length ?? 0,
      followingCount: this.following.get(userId)?.length ?? 0,
    };
  }

  private isFollowingSync(followerId: string, followeeId: string): boolean {
    return (this.following.get(followerId) ?? []).some((e) => e.userId === followeeId);
  }
}

function list<T>(m: Map<string, T[]>, k: string): T[] {
  let l = m.get(k);
  if (!l) {
    l = [];
    m.set(k, l);
  }
  return l;
}

/** Content in memory: posts by id, an author's posts newest first. */
export class FakeContent implements ContentClient {
  readonly posts = new Map<string, PostView>();
  private readonly byAuthor = new Map<string, PostView[]>();
  calls = { getPosts: 0, getUserPosts: 0 };

  /** A published post (not yet announced: see publishPost). */
  add(p: Partial<PostView> & { authorId: string; createdAt: number }): PostView {
    const post: PostView = {
      id: randomUUID(),
      title: null,
      content: "hello",
      status: "published",
      visibility: "public",
      language: null,
      images: [],
      videos: [],
      sharedPostId: null,
      likeCount: 0,
      commentCount: 0,
      shareCount: 0,
      updatedAt: p.createdAt,
      ...p,
    };
    this.posts.set(post.id, post);
    const l = list(this.byAuthor, post.authorId);
    l.push(post);
    l.sort((a, b) => b.createdAt - a.createdAt || (a.id < b.id ? 1 : -1));
    return post;
  }

  async getPost(postId: string): Promise<PostView | null> {
    const p = this.posts.get(postId);
    return p && p.status === "published" ? p : null;
  }

  async getPosts(postIds: string[]): Promise<PostView[]> {
    this.calls.getPosts++;
    return postIds.flatMap((id) => {
      const p = this.posts.get(id);
      return p && p.status === "published" ? [p] : [];
    });
  }

  async getUserPosts(authorId: string, page: { from?: string | null; limit: number }): Promise<PostPage> {
    this.calls.getUserPosts++;
    return pageOf(
      (this.byAuthor.get(authorId) ?? []).filter((p) => p.status === "published"),
      page,
    );
  }
}

/** Content's and graph's events as their outboxes would put them on the bus. */
export class EventSource {
  constructor(
    private readonly bus: EventBus,
    private readonly content: FakeContent,
    private readonly graph: FakeGraph,
  ) {}

  private async send(e: { aggregateType: string; aggregateId: string; eventType: string; payload: unknown }) {
    await this.bus.publish([
      toRecord({
        id: randomUUID(),
        aggregate_type: e.aggregateType,
        aggregate_id: e.aggregateId,
        event_type: e.eventType,
        payload: e.payload,
        metadata: {},
        created_at: Date.now(),
      }),
    ]);
  }

  /** Creates the post in content and publishes post.published; resolves once feed handled it. */
  async post(p: Partial<PostView> & { authorId: string; createdAt: number }): Promise<PostView> {
    const post = this.content.add(p);
    await this.send(contentEvent("post.published", snapshotOf(post)));
    return post;
  }

  async republish(post: PostView): Promise<void> {
    await this.send(contentEvent("post.published", snapshotOf(post)));
  }

  async update(post: PostView, changes: Partial<PostView>): Promise<void> {
    Object.assign(post, changes);
    await this.send(contentEvent("post.updated", snapshotOf(post)));
  }

  async delete(post: PostView): Promise<void> {
    post.status = "deleted";
    await this.send(
      contentEvent("post.deleted", { post_id: post.id, author_id: post.authorId, deleted_at: Date.now() }),
    );
  }

  async follow(followerId: string, followeeId: string): Promise<void> {
    this.graph.follow(followerId, followeeId);
    await this.send(
      graphEvent("follow.created", {
        follower_id: followerId,
        followee_id: followeeId,
        created_at: Date.now(),
      }),
    );
  }

  async unfollow(followerId: string, followeeId: string): Promise<void> {
    this.graph.unfollow(followerId, followeeId);
    await this.send(
      graphEvent("follow.deleted", {
        follower_id: followerId,
        followee_id: followeeId,
        deleted_at: Date.now(),
      }),
    );
  }
}
