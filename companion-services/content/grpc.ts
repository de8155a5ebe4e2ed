import { fileURLToPath } from "node:url";
import * as grpc from "@grpc/grpc-js";
import { z } from "zod";
import type { Logger } from "../platform/logger.ts";
import { loadService } from "../platform/rpc/proto.ts";
import { listen, shutdown, unary } from "../platform/rpc/server.ts";
import { present } from "../platform/rpc/wire.ts";
import type { ContentClient, PostView } from "./client.ts";

export const CONTENT_PROTO = {
  file: fileURLToPath(new URL("./content.proto", import.meta.url)),
  service: "nova.content.v1.Content",
} as const;

/** The largest GetPosts batch (a feed page hydrates far fewer). */
export const MAX_GET_POSTS = 500;

const id = z.string().min(1).max(128);
const userId = z.string().startsWith("@").max(255);
const schemas = {
  GetPost: z.object({ post_id: id, viewer_id: userId.optional() }),
  GetPosts: z.object({ post_ids: z.array(id).max(MAX_GET_POSTS).optional() }),
  GetUserPosts: z.object({
    author_id: userId,
    from: z.string().max(512).optional(),
    limit: z.number().int().min(1).max(100),
  }),
};

export const postToWire = (p: PostView) =>
  present({
    id: p.id,
    author_id: p.authorId,
    title: p.title,
    content: p.content,
    status: p.status,
    visibility: p.visibility,
    language: p.language,
    images: p.images,
    videos: p.videos,
    shared_post_id: p.sharedPostId,
    like_count: p.likeCount,
    comment_count: p.commentCount,
    share_count: p.shareCount,
    created_at: p.createdAt,
    updated_at: p.updatedAt,
  });

/** Content's gRPC server over any ContentClient (the in-process ContentService). */
export function contentGrpcServer(content: ContentClient, logger: Logger): grpc.Server {
  const Ctor = loadService(CONTENT_PROTO.file, CONTENT_PROTO.service);
  // 500 posts of 5,000 characters and their media ids fit well under 8 MiB.
  const server = new grpc.Server({
    "grpc.max_receive_message_length": 1024 * 1024,
    "grpc.max_send_message_length": 8 * 1024 * 1024,
  });
  const u = <Req, Res>(method: string, schema: z.ZodType<Req>, fn: (req: Req) => Promise<Res>) =>
    unary<Req, Res>(logger, method, schema, (req) => fn(req));
  server.addService(Ctor.service, {
    GetPost: u("GetPost", schemas.GetPost, async (r) => {
      const p = await content.getPost(r.post_id, r.viewer_id ?? null);
      return p ? { post: postToWire(p) } : {};
    }),
    GetPosts: u("GetPosts", schemas.GetPosts, async (r) => ({
      posts: (await content.getPosts(r.post_ids ?? [])).map(postToWire),
    })),
    GetUserPosts: u("GetUserPosts", schemas.GetUserPosts, async (r) => {
      const page = await content.getUserPosts(r.author_id, { from: r.from ?? null, limit: r.limit });
      return { posts: page.items.map(postToWire), ...(page.next ? { next: page.next } : {}) };
    }),
  });
  return server;
}

/** Starts content's gRPC server on `address` (host:port; port 0 picks one). */
export async function startContentGrpc(
  content: ContentClient,
  logger: Logger,
  address: string,
): Promise<{ port: number; close(): Promise<void> }> {
  const server = contentGrpcServer(content, logger);
  const port = await listen(server, address);
  logger.info({ address, port }, "content gRPC listening");
  return { port, close: () => shutdown(server) };
}
