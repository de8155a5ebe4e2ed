import type { Kysely } from "kysely";
import { invalidParam } from "../platform/errors.ts";
import type {
  CommentHit,
  Page,
  PageOf,
  PostHit,
  RoomEventQuery,
  RoomEventResults,
  RoomHit,
  SearchClient,
  UserHit,
} from "./client.ts";
import { decodeCursor, encodeCursor, offsetOf } from "./cursor.ts";
import { queries } from "./queries.repository.ts";
import type { SearchTables } from "./tables.ts";
import { checkTerm } from "./terms.ts";

const MAX_LIMIT = 100;
/** More rooms than this in one query is a client asking for a denial of service. */
const MAX_ROOMS = 10_000;

function checkLimit(limit: number): number {
  if (!Number.isInteger(limit) || limit < 1) throw invalidParam("limit must be a positive integer");
  return Math.min(limit, MAX_LIMIT);
}

/** An offset page: the next cursor only when the page came back full. */
function offsetPage<T>(items: T[], offset: number, limit: number): PageOf<T> {
  return items.length === limit ? { items, next: encodeCursor({ o: offset + limit }) } : { items };
}

/** Search's answers over its read model: the in-process SearchClient (gRPC serves the same one). */
export class SearchService implements SearchClient {
  constructor(private readonly db: Kysely<SearchTables>) {}

  async searchRoomEvents(q: RoomEventQuery): Promise<RoomEventResults> {
    const term = checkTerm(q.term);
    const limit = checkLimit(q.limit);
    if (q.roomIds.length > MAX_ROOMS) throw invalidParam(`at most ${MAX_ROOMS} rooms`);
    const cursor = decodeCursor(q.from);
    const { hits, count, values, matches } = await queries.roomEvents(this.db, { ...q, term, limit }, cursor);
    const highlights = await queries.highlights(this.db, term, values);
    let next: string | undefined;
    if (hits.length === limit) {
      const last = hits[hits.length - 1]!;
      next =
        q.orderBy === "recent"
          ? encodeCursor({ p: last.streamPosition, e: last.eventId })
          : encodeCursor({ o: offsetOf(cursor) + limit });
    }
    return { hits, count, highlights, ...(next ? { next } : {}), ...(matches ? { matches } : {}) };
  }

  async searchPosts(q: string, page: Page): Promise<PageOf<PostHit>> {
    const term = checkTerm(q, "q");
    const limit = checkLimit(page.limit);
    const offset = offsetOf(decodeCursor(page.from));
    const rows = await queries.posts(this.db, term, offset, limit);
    return offsetPage(
      rows.map((r) => ({
        postId: r.post_id,
        authorId: r.author_id,
        title: r.title,
        content: r.content,
        language: r.language,
        createdAt: Number(r.created_at),
        rank: Number(r.rank),
      })),
      offset,
      limit,
    );
  }

  async searchComments(q: string, page: Page): Promise<PageOf<CommentHit>> {
    const term = checkTerm(q, "q");
    const limit = checkLimit(page.limit);
    const offset = offsetOf(decodeCursor(page.from));
    const rows = await queries.comments(this.db, term, offset, limit);
    return offsetPage(
      rows.map((r) => ({
        commentId: r.comment_id,
        postId: r.post_id,
        authorId: r.author_id,
        content: r.content,
        createdAt: Number(r.created_at),
        rank: Number(r.rank),
      })),
      offset,
      limit,
    );
  }

  async searchUsers(q: string, page: Page): Promise<PageOf<UserHit>> {
    const term = checkTerm(q, "q");
    const limit = checkLimit(page.limit);
    const offset = offsetOf(decodeCursor(page.from));
    const rows = await queries.users(this.db, term, offset, limit);
    return offsetPage(
      rows.map((r) => ({ userId: r.user_id, displayName: r.display_name })),
      offset,
      limit,
    );
  }

  async searchRooms(q: string, page: Page): Promise<PageOf<RoomHit>> {
    const term = checkTerm(q, "q");
    const limit = checkLimit(page.limit);
    const offset = offsetOf(decodeCursor(page.from));
    const rows = await queries.rooms(this.db, term, offset, limit);
    return offsetPage(
      rows.map((r) => ({
        roomId: r.room_id,
        name: r.name,
        topic: r.topic,
        canonicalAlias: r.canonical_alias,
        rank: Number(r.rank),
      })),
      offset,
      limit,
    );
  }
}
