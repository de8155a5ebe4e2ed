import type { Kysely } from "kysely";
import { forbidden, invalidParam, notFound } from "../platform/errors.ts";
import { withOutbox } from "../platform/outbox/writer.ts";
import { BlocksRepository } from "./blocks.repository.ts";
import {
  type FollowPage,
  type GraphClient,
  MAX_FOLLOW_PAGE,
  type PageRequest,
  type SocialMetadata,
} from "./client.ts";
import { decodeCursor, encodeCursor } from "./cursor.ts";
import { graphEvent } from "./events.ts";
import { FollowsRepository } from "./follows.repository.ts";
import { SocialMetadataRepository } from "./social-metadata.repository.ts";
import type { GraphTables } from "./tables.ts";

/** A user's counts and how they relate to the one asking (`GET /users/{userId}/social`). */
export type SocialView = SocialMetadata & {
  /** The caller follows them. */
  following: boolean;
  /** They follow the caller. */
  followedBy: boolean;
};

export type FollowResult = { following: boolean; changed: boolean };

/**
 * Who follows whom. A follow or unfollow and its event commit in one transaction (graph's
 * outbox); the counts in social_metadata move when graph's own consumer applies the event, so
 * they are eventually equal to the table and never counted twice.
 */
export class GraphService implements GraphClient {
  readonly follows: FollowsRepository;
  readonly blocks: BlocksRepository;
  readonly meta: SocialMetadataRepository;

  constructor(
    private readonly db: Kysely<GraphTables>,
    private readonly schema: string,
    private readonly now: () => number = Date.now,
  ) {
    this.follows = new FollowsRepository(db);
    this.blocks = new BlocksRepository(db);
    this.meta = new SocialMetadataRepository(db);
  }

  /** Idempotent: following someone already followed changes nothing and emits nothing. */
  async follow(followerId: string, followeeId: string): Promise<FollowResult> {
    if (followerId === followeeId) throw invalidParam("You cannot follow yourself.");
    await this.requireKnown(followeeId);
    if (await this.blocks.between(followerId, followeeId)) throw forbidden("You cannot follow this user.");
    const at = this.now();
    const changed = await withOutbox(this.db, this.schema, async (trx, emit) => {
      // Checked again under the pair's lock: a block applied since the check above must win.
      await this.follows.lockPair(trx, followerId, followeeId);
      if (await this.blocks.between(followerId, followeeId, trx))
        throw forbidden("You cannot follow this user.");
      // The follower is signed in, so registered, but identity's user.registered may not have
      // reached graph yet: without their row the counts consumer would drop this follow from
      // their following_count for good. (That event then finds the row and changes nothing.)
      await this.meta.createFor(trx, followerId, at);
      const inserted = await this.follows.insert(trx, followerId, followeeId, at);
      if (inserted)
        emit(
          graphEvent("follow.created", { follower_id: followerId, followee_id: followeeId, created_at: at }),
        );
      return inserted;
    });
    return { following: true, changed };
  }

  /** Idempotent: unfollowing someone not followed changes nothing and emits nothing (404 for a user graph does not know). */
  async unfollow(followerId: string, followeeId: string): Promise<FollowResult> {
    if (followerId === followeeId) throw invalidParam("You cannot unfollow yourself.");
    await this.requireKnown(followeeId);
    const at = this.now();
    const changed = await withOutbox(this.db, this.schema, async (trx, emit) => {
      const deleted = await this.follows.delete(trx, followerId, followeeId);
      if (deleted)
        emit(
          graphEvent("follow.deleted", { follower_id: followerId, followee_id: followeeId, deleted_at: at }),
        );
      return deleted;
    });
    return { following: false, changed };
  }

  getUserFollowers(userId: string, page: PageRequest): Promise<FollowPage> {
    return this.page("followers", userId, page, null);
  }

  getUserFollowing(userId: string, page: PageRequest): Promise<FollowPage> {
    return this.page("following", userId, page, null);
  }

  isFollowing(followerId: string, followeeId: string): Promise<boolean> {
    return this.follows.exists(followerId, followeeId);
  }

  async getSocialMetadata(userId: string): Promise<SocialMetadata | null> {
    const row = await this.meta.get(userId);
    if (!row) return null;
    return {
      userId: row.user_id,
      followerCount: Number(row.follower_count),
      followingCount: Number(row.following_count),
    };
  }

  /** A list as `viewer` sees it: 404 for an unknown user, users in a block with the viewer left out. */
  async listFor(
    viewer: string,
    side: "followers" | "following",
    userId: string,
    page: PageRequest,
  ): Promise<FollowPage> {
    await this.requireKnown(userId);
    return this.page(side, userId, page, viewer);
  }

  async socialView(viewer: string, userId: string): Promise<SocialView> {
    const meta = await this.getSocialMetadata(userId);
    if (!meta) throw notFound("Unknown user.");
    const [following, followedBy] =
      viewer === userId
        ? [false, false]
        : await Promise.all([this.follows.exists(viewer, userId), this.follows.exists(userId, viewer)]);
    return { ...meta, following, followedBy };
  }

  private async requireKnown(userId: string): Promise<void> {
    if (!(await this.meta.get(userId))) throw notFound("Unknown user.");
  }

  private async page(
    side: "followers" | "following",
    userId: string,
    page: PageRequest,
    viewer: string | null,
  ): Promise<FollowPage> {
    if (!Number.isInteger(page.limit) || page.limit < 1 || page.limit > MAX_FOLLOW_PAGE)
      throw invalidParam(`limit: between 1 and ${MAX_FOLLOW_PAGE}`);
    const after = page.from ? decodeCursor(page.from) : null;
    const options = { after, limit: page.limit, hiddenFrom: viewer };
    const rows =
      side === "followers"
        ? await this.follows.followers(userId, options)
        : await this.follows.following(userId, options);
    const items = rows.slice(0, page.limit);
    const last = items.at(-1);
    const next =
      rows.length > page.limit && last ? encodeCursor({ at: last.followedAt, userId: last.userId }) : null;
    return { items, next };
  }
}
