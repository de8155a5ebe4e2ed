import { fileURLToPath } from "node:url";
import * as grpc from "@grpc/grpc-js";
import { z } from "zod";
import type { Logger } from "../platform/logger.ts";
import { loadService } from "../platform/rpc/proto.ts";
import { listen, shutdown, unary } from "../platform/rpc/server.ts";
import { present } from "../platform/rpc/wire.ts";
import { type FollowPage, type GraphClient, MAX_FOLLOW_PAGE } from "./client.ts";

export const GRAPH_PROTO = {
  file: fileURLToPath(new URL("./graph.proto", import.meta.url)),
  service: "nova.graph.v1.Graph",
} as const;

const userId = z
  .string()
  .startsWith("@")
  .max(255)
  .refine((s) => !s.includes("\u0000"), "must not contain NUL");
const pageRequest = z.object({
  user_id: userId,
  from: z.string().max(512).optional(),
  limit: z.number().int().min(1).max(MAX_FOLLOW_PAGE),
});
const schemas = {
  page: pageRequest,
  IsFollowing: z.object({ follower_id: userId, followee_id: userId }),
  GetSocialMetadata: z.object({ user_id: userId }),
};

const pageToWire = (p: FollowPage) =>
  present({
    items: p.items.map((e) => ({ user_id: e.userId, followed_at: e.followedAt })),
    next: p.next,
  });

/** Graph's gRPC server over any GraphClient (the in-process GraphService). */
export function graphGrpcServer(graph: GraphClient, logger: Logger): grpc.Server {
  const Ctor = loadService(GRAPH_PROTO.file, GRAPH_PROTO.service);
  const server = new grpc.Server({ "grpc.max_receive_message_length": 64 * 1024 });
  const u = <Req, Res>(method: string, schema: z.ZodType<Req>, fn: (req: Req) => Promise<Res>) =>
    unary<Req, Res>(logger, method, schema, (req) => fn(req));
  server.addService(Ctor.service, {
    GetUserFollowing: u("GetUserFollowing", schemas.page, async (r) =>
      pageToWire(await graph.getUserFollowing(r.user_id, { from: r.from ?? null, limit: r.limit })),
    ),
    GetUserFollowers: u("GetUserFollowers", schemas.page, async (r) =>
      pageToWire(await graph.getUserFollowers(r.user_id, { from: r.from ?? null, limit: r.limit })),
    ),
    IsFollowing: u("IsFollowing", schemas.IsFollowing, async (r) => ({
      following: await graph.isFollowing(r.follower_id, r.followee_id),
    })),
    GetSocialMetadata: u("GetSocialMetadata", schemas.GetSocialMetadata, async (r) => {
      const m = await graph.getSocialMetadata(r.user_id);
      return m
        ? {
            metadata: {
              user_id: m.userId,
              follower_count: m.followerCount,
              following_count: m.followingCount,
            },
          }
        : {};
    }),
  });
  return server;
}

/** Starts graph's gRPC server on `address` (host:port; port 0 picks one). */
export async function startGraphGrpc(
  graph: GraphClient,
  logger: Logger,
  address: string,
): Promise<{ port: number; close(): Promise<void> }> {
  const server = graphGrpcServer(graph, logger);
  const port = await listen(server, address);
  logger.info({ address, port }, "graph gRPC listening");
  return { port, close: () => shutdown(server) };
}
