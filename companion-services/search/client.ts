/**
 * What search answers, as the homeserver and the REST routes ask it: in-process (SearchService)
 * or over gRPC (GrpcSearchClient, distributed mode). Every answer is a page of ids and ranks over
 * the read model; callers that serve room events fetch them from the homeserver and apply its
 * visibility rules (search never decides who may read a room).
 */
export const ROOM_EVENT_KEYS = ["content.body", "content.name", "content.topic"] as const;
export type RoomEventKey = (typeof ROOM_EVENT_KEYS)[number];

export type RoomEventQuery = {
  term: string;
  /** Rooms to search: the caller has already narrowed them to the user's. */
  roomIds: string[];
  /** Default: all three. */
  keys?: RoomEventKey[];
  senders?: string[];
  notSenders?: string[];
  types?: string[];
  notTypes?: string[];
  orderBy: "rank" | "recent";
  limit: number;
  /** A previous answer's `next`. */
  from?: string;
  /**
   * Also list every match (up to MAX_MATCHES, newest first) by position, type and sender, so a
   * caller that knows who may read what (the homeserver) can count only what the user could see.
   */
  withMatches?: boolean;
};

/** One match of a query, without its text: enough to judge history visibility at it. */
export type RoomEventMatch = { roomId: string; streamPosition: number; type: string; sender: string };
export const MAX_MATCHES = 5_000;

export type RoomEventHit = {
  roomId: string;
  eventId: string;
  sender: string;
  rank: number;
  streamPosition: number;
  originServerTs: number;
};

export type RoomEventResults = {
  hits: RoomEventHit[];
  /** Every match in the rooms searched (all pages). */
  count: number;
  /** The words of the matched texts that matched the query. */
  highlights: string[];
  next?: string;
  /** With `withMatches`: the newest MAX_MATCHES matches of every page. */
  matches?: RoomEventMatch[];
};

export type Page = { from?: string; limit: number };
export type PageOf<T> = { items: T[]; next?: string };

export type PostHit = {
  postId: string;
  authorId: string;
  title: string | null;
  content: string;
  language: string | null;
  createdAt: number;
  rank: number;
};
export type CommentHit = {
  commentId: string;
  postId: string;
  authorId: string;
  content: string;
  createdAt: number;
  rank: number;
};
export type UserHit = { userId: string; displayName: string | null };
export type RoomHit = {
  roomId: string;
  name: string | null;
  topic: string | null;
  canonicalAlias: string | null;
  rank: number;
};

export interface SearchClient {
  searchRoomEvents(q: RoomEventQuery): Promise<RoomEventResults>;
  searchPosts(q: string, page: Page): Promise<PageOf<PostHit>>;
  searchComments(q: string, page: Page): Promise<PageOf<CommentHit>>;
  searchUsers(q: string, page: Page): Promise<PageOf<UserHit>>;
  searchRooms(q: string, page: Page): Promise<PageOf<RoomHit>>;
}

/** Longest search term accepted (characters): longer is 400, never a slow query. */
export const MAX_TERM = 512;
