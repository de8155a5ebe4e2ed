import * as grpc from "@grpc/grpc-js";
import { type CallOptions, callUnary } from "../platform/rpc/client.ts";
import { loadService } from "../platform/rpc/proto.ts";
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
import { SEARCH_PROTO } from "./grpc.ts";

type WirePage<T> = { items?: T[]; next?: string };
type WirePost = {
  post_id: string;
  author_id: string;
  title?: string;
  content: string;
  language?: string;
  created_at: number;
  rank?: number;
};
type WireComment = {
  comment_id: string;
  post_id: string;
  author_id: string;
  content: string;
  created_at: number;
  rank?: number;
};
type WireUser = { user_id: string; display_name?: string };
type WireRoom = { room_id: string; name?: string; topic?: string; canonical_alias?: string; rank?: number };
type WireHit = {
  room_id: string;
  event_id: string;
  sender: string;
  rank?: number;
  stream_position?: number;
  origin_server_ts?: number;
};

const paged = <W, T>(r: WirePage<W>, f: (w: W) => T): PageOf<T> => ({
  items: (r.items ?? []).map(f),
  ...(r.next ? { next: r.next } : {}),
});
const textQuery = (q: string, page: Page) => ({
  q,
  limit: page.limit,
  ...(page.from ? { from: page.from } : {}),
});

/** SearchClient over gRPC: every method is a read, idempotent and retried within its deadline. */
export class GrpcSearchClient implements SearchClient {
  private readonly client: grpc.Client;
  private readonly options: CallOptions;

  constructor(opts: { address: string; deadlineMs?: number; retries?: number }) {
    const Ctor = loadService(SEARCH_PROTO.file, SEARCH_PROTO.service);
    this.client = new Ctor(opts.address, grpc.credentials.createInsecure(), { "grpc.enable_retries": 0 });
    this.options = { deadlineMs: opts.deadlineMs ?? 5_000, retries: opts.retries ?? 2 };
  }

  close(): void {
    this.client.close();
  }

  async searchRoomEvents(q: RoomEventQuery): Promise<RoomEventResults> {
    const r = await callUnary<{
      hits?: WireHit[];
      count?: number;
      highlights?: string[];
      next?: string;
      matches?: { room_id: string; stream_position?: number; type: string; sender: string }[];
    }>(
      this.client,
      "SearchRoomEvents",
      {
        term: q.term,
        room_ids: q.roomIds,
        keys: q.keys ?? [],
        senders: q.senders ?? [],
        not_senders: q.notSenders ?? [],
        types: q.types ?? [],
        not_types: q.notTypes ?? [],
        order_by: q.orderBy,
        with_matches: q.withMatches === true,
        limit: q.limit,
        ...(q.from ? { from: q.from } : {}),
      },
      this.options,
    );
    return {
      hits: (r.hits ?? []).map((h) => ({
        roomId: h.room_id,
        eventId: h.event_id,
        sender: h.sender,
        rank: h.rank ?? 0,
        streamPosition: h.stream_position ?? 0,
        originServerTs: h.origin_server_ts ?? 0,
      })),
      count: r.count ?? 0,
      highlights: r.highlights ?? [],
      ...(r.next ? { next: r.next } : {}),
      ...(q.withMatches
        ? {
            matches: (r.matches ?? []).map((m) => ({
              roomId: m.room_id,
              streamPosition: m.stream_position ?? 0,
              type: m.type,
              sender: m.sender,
            })),
          }
        : {}),
    };
  }

  async searchPosts(q: string, page: Page): Promise<PageOf<PostHit>> {
    const r = await callUnary<WirePage<WirePost>>(
      this.client,
      "SearchPosts",
      textQuery(q, page),
      this.options,
    );
    return paged(r, (p) => ({
      postId: p.post_id,
      authorId: p.author_id,
      title: p.title ?? null,
      content: p.content,
      language: p.language ?? null,
      createdAt: p.created_at,
      rank: p.rank ?? 0,
    }));
  }

  async searchComments(q: string, page: Page): Promise<PageOf<CommentHit>> {
    const r = await callUnary<WirePage<WireComment>>(
      this.client,
      "SearchComments",
      textQuery(q, page),
      this.options,
    );
    return paged(r, (c) => ({
      commentId: c.comment_id,
      postId: c.post_id,
      authorId: c.author_id,
      content: c.content,
      createdAt: c.created_at,
      rank: c.rank ?? 0,
    }));
  }

  async searchUsers(q: string, page: Page): Promise<PageOf<UserHit>> {
    const r = await callUnary<WirePage<WireUser>>(
      this.client,
      "SearchUsers",
      textQuery(q, page),
      this.options,
    );
    return paged(r, (u) => ({ userId: u.user_id, displayName: u.display_name ?? null }));
  }

  async searchRooms(q: string, page: Page): Promise<PageOf<RoomHit>> {
    const r = await callUnary<WirePage<WireRoom>>(
      this.client,
      "SearchRooms",
      textQuery(q, page),
      this.options,
    );
    return paged(r, (x) => ({
      roomId: x.room_id,
      name: x.name ?? null,
      topic: x.topic ?? null,
      canonicalAlias: x.canonical_alias ?? null,
      rank: x.rank ?? 0,
    }));
  }
}
