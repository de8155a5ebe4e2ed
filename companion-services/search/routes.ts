import { z } from "zod";
import { AdminRoutes, type AuditLog } from "../platform/http/admin-routes.ts";
import { defineRoute, mountRoute, pageOf, pageQuery, safeText } from "../platform/http/api.ts";
import type { Router } from "../platform/http/router.ts";
import type { Logger } from "../platform/logger.ts";
import { MAX_TERM, type SearchClient } from "./client.ts";

const TYPES = ["posts", "users", "rooms", "comments"] as const;

const hit = z.union([
  z.object({
    type: z.literal("post"),
    post_id: z.string(),
    author_id: z.string(),
    title: z.string().nullable(),
    content: z.string(),
    language: z.string().nullable(),
    created_at: z.number(),
    rank: z.number(),
  }),
  z.object({
    type: z.literal("comment"),
    comment_id: z.string(),
    post_id: z.string(),
    author_id: z.string(),
    content: z.string(),
    created_at: z.number(),
    rank: z.number(),
  }),
  z.object({ type: z.literal("user"), user_id: z.string(), displayname: z.string().nullable() }),
  z.object({
    type: z.literal("room"),
    room_id: z.string(),
    name: z.string().nullable(),
    topic: z.string().nullable(),
    canonical_alias: z.string().nullable(),
    rank: z.number(),
  }),
]);

export const searchRoute = defineRoute({
  method: "GET",
  path: "/_nova/v1/search",
  summary: "Full-text search of public posts, comments, users and public rooms",
  tag: "search",
  query: pageQuery(20, 100).extend({
    q: safeText(MAX_TERM).refine((s) => s.trim() !== "", "must not be empty"),
    type: z.enum(TYPES).default("posts"),
  }),
  response: pageOf("results", hit),
});

/** The REST routes of search, for the OpenAPI document (`/_nova/v1/openapi.json`). */
export const SEARCH_ROUTES = [searchRoute] as const;

export type SearchAdmin = {
  /** Whether a user is a server admin (identity's is_admin). */
  isAdmin: (userId: string) => Promise<boolean>;
  reindex: () => Promise<{ generation: number }>;
};

/** Admin calls go to the pino log; search has no audit table of its own (it owns only copies). */
const logOnly: AuditLog = { append: async () => {} };

export function mountSearchRoutes(
  router: Router,
  client: SearchClient,
  logger: Logger,
  admin?: SearchAdmin,
): void {
  mountRoute(router, searchRoute, async ({ query }) => {
    const page = { limit: query.limit, ...(query.from ? { from: query.from } : {}) };
    switch (query.type) {
      case "posts": {
        const r = await client.searchPosts(query.q, page);
        return {
          results: r.items.map((p) => ({
            type: "post" as const,
            post_id: p.postId,
            author_id: p.authorId,
            title: p.title,
            content: p.content,
            language: p.language,
            created_at: p.createdAt,
            rank: p.rank,
          })),
          ...(r.next ? { next: r.next } : {}),
        };
      }
      case "comments": {
        const r = await client.searchComments(query.q, page);
        return {
          results: r.items.map((c) => ({
            type: "comment" as const,
            comment_id: c.commentId,
            post_id: c.postId,
            author_id: c.authorId,
            content: c.content,
            created_at: c.createdAt,
            rank: c.rank,
          })),
          ...(r.next ? { next: r.next } : {}),
        };
      }
      case "users": {
        const r = await client.searchUsers(query.q, page);
        return {
          results: r.items.map((u) => ({
            type: "user" as const,
            user_id: u.userId,
            displayname: u.displayName,
          })),
          ...(r.next ? { next: r.next } : {}),
        };
      }
      case "rooms": {
        const r = await client.searchRooms(query.q, page);
        return {
          results: r.items.map((x) => ({
            type: "room" as const,
            room_id: x.roomId,
            name: x.name,
            topic: x.topic,
            canonical_alias: x.canonicalAlias,
            rank: x.rank,
          })),
          ...(r.next ? { next: r.next } : {}),
        };
      }
    }
  });
  if (admin) {
    // `nova search reindex` calls this on the process that runs search.
    const routes = new AdminRoutes(router, admin.isAdmin, logOnly, logger);
    routes.post("/nova/v1/search/reindex", async () => ({ body: await admin.reindex() }));
  }
}
