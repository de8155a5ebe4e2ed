/**
 * What other services ask graph (feed: who follows an author, whom a reader follows; content:
 * whether a viewer may see a followers-only post). Served in-process by the graph service and over
 * gRPC (graph.proto) by `nova serve graph`. Cursors are opaque strings from a previous page.
 */
export type FollowEdge = { userId: string; followedAt: number };
export type FollowPage = { items: FollowEdge[]; next: string | null };
export type SocialMetadata = { userId: string; followerCount: number; followingCount: number };
export type PageRequest = { from?: string | null; limit: number };

/** The largest page a caller may ask for (feed's fan-out pages through 100,000 followers). */
export const MAX_FOLLOW_PAGE = 10_000;

export interface GraphClient {
  /** Whom `userId` follows, newest first. */
  getUserFollowing(userId: string, page: PageRequest): Promise<FollowPage>;
  /** Who follows `userId`, newest first. */
  getUserFollowers(userId: string, page: PageRequest): Promise<FollowPage>;
  isFollowing(followerId: string, followeeId: string): Promise<boolean>;
  /** Null for a user graph has never heard of. */
  getSocialMetadata(userId: string): Promise<SocialMetadata | null>;
}
