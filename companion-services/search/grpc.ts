import { fileURLToPath } from "node:url";
import * as grpc from "@grpc/grpc-js";
import { z } from "zod";
import type { Logger } from "../platform/logger.ts";
import { loadService } from "../platform/rpc/proto.ts";
import { listen, shutdown, unary } from "../platform/rpc/server.ts";
import { present } from "../platform/rpc/wire.ts";
import { MAX_TERM, ROOM_EVENT_KEYS, type SearchClient } from "./client.ts";

export const SEARCH_PROTO = {
  file: fileURLToPath(new URL("./search.proto", import.meta.url)),
  service: "nova.search.v1.Search",
} as const;

const ids = z.array(z.string().max(255)).max(10_000).optional();
const page = { limit: z.number().int().min(1).max(100), from: z.string().max(512).optional() };
const schemas = {
  SearchRoomEvents: z.object({
    term: z.string().max(MAX_TERM),
    room_ids: ids,
    keys: z.array(z.enum(ROOM_EVENT_KEYS)).optional(),
    senders: ids,
    not_senders: ids,
    types: ids,
    not_types: ids,
    order_by: z.enum(["rank", "recent"]),
    with_matches: z.boolean().optional(),
    ...page,
  }),
  TextQuery: z.object({ q: z.string().max(MAX_TERM), ...page }),
};

const pageArgs = (r: { limit: number; from?: string | undefined }) => ({
  limit: r.limit,
  ...(r.from ? { from: r.from } : {}),
});

/** Search's gRPC server over any SearchClient (the in-process SearchService). */
export function searchGrpcServer(search: SearchClient, logger: Logger): grpc.Server {
  const Ctor = loadService(SEARCH_PROTO.file, SEARCH_PROTO.service);
  const server = new grpc.Server({ "grpc.max_receive_message_length": 4 * 1024 * 1024 });
  const text = schemas.TextQuery;
  server.addService(Ctor.service, {
    SearchRoomEvents: unary(logger, "SearchRoomEvents", schemas.SearchRoomEvents, async (r) => {
      const res = await search.searchRoomEvents({
        term: r.term,
        roomIds: r.room_ids ?? [],
        ...(r.keys?.length ? { keys: r.keys } : {}),
        ...(r.senders?.length ? { senders: r.senders } : {}),
        ...(r.not_senders?.length ? { notSenders: r.not_senders } : {}),
        ...(r.types?.length ? { types: r.types } : {}),
        ...(r.not_types?.length ? { notTypes: r.not_types } : {}),
        orderBy: r.order_by,
        ...(r.with_matches ? { withMatches: true } : {}),
        ...pageArgs(r),
      });
      return present({
        hits: res.hits.map((h) => ({
          room_id: h.roomId,
          event_id: h.eventId,
          sender: h.sender,
          rank: h.rank,
          stream_position: h.streamPosition,
          origin_server_ts: h.originServerTs,
        })),
        count: res.count,
        highlights: res.highlights,
        next: res.next,
        matches: res.matches?.map((m) => ({
          room_id: m.roomId,
          stream_position: m.streamPosition,
          type: m.type,
          sender: m.sender,
        })),
      });
    }),
    SearchPosts: unary(logger, "SearchPosts", text, async (r) => {
      const res = await search.searchPosts(r.q, pageArgs(r));
      return present({
        items: res.items.map((p) =>
          present({
            post_id: p.postId,
            author_id: p.authorId,
            title: p.title,
            content: p.content,
            language: p.language,
            created_at: p.createdAt,
            rank: p.rank,
          }),
        ),
        next: res.next,
      });
    }),
    SearchComments: unary(logger, "SearchComments", text, async (r) => {
      const res = await search.searchComments(r.q, pageArgs(r));
      return present({
        items: res.items.map((c) => ({
          comment_id: c.commentId,
          post_id: c.postId,
          author_id: c.authorId,
          content: c.content,
          created_at: c.createdAt,
          rank: c.rank,
        })),
        next: res.next,
      });
    }),
    SearchUsers: unary(logger, "SearchUsers", text, async (r) => {
      const res = await search.searchUsers(r.q, pageArgs(r));
      return present({
        items: res.items.map((u) => present({ user_id: u.userId, display_name: u.displayName })),
        next: res.next,
      });
    }),
    SearchRooms: unary(logger, "SearchRooms", text, async (r) => {
      const res = await search.searchRooms(r.q, pageArgs(r));
      return present({
        items: res.items.map((x) =>
          present({
            room_id: x.roomId,
            name: x.name,
            topic: x.topic,
            canonical_alias: x.canonicalAlias,
            rank: x.rank,
          }),
        ),
        next: res.next,
      });
    }),
  });
  return server;
}

/** Starts search's gRPC server on `address` (host:port; port 0 picks one). */
export async function startSearchGrpc(
  search: SearchClient,
  logger: Logger,
  address: string,
): Promise<{ port: number; close(): Promise<void> }> {
  const server = searchGrpcServer(search, logger);
  const port = await listen(server, address);
  logger.info({ address, port }, "search gRPC listening");
  return { port, close: () => shutdown(server) };
}
