import { z } from "zod";
import { missingToken } from "../platform/errors.ts";
import { defineRoute, mountRoute, pageOf, pageQuery, userIdSchema } from "../platform/http/api.ts";
import type { Request, Router } from "../platform/http/router.ts";
import type { FollowPage } from "./client.ts";
import type { GraphService } from "./service.ts";

const TAG = "graph";
const userParam = z.object({ userId: userIdSchema });
const followState = z.object({ following: z.boolean() });
const edge = z.object({
  user_id: z.string(),
  /** When the follow started, ms since the epoch. */
  followed_at: z.number().int(),
});
const social = z.object({
  user_id: z.string(),
  follower_count: z.number().int(),
  following_count: z.number().int(),
  /** The caller follows this user. */
  following: z.boolean(),
  /** This user follows the caller. */
  followed_by: z.boolean(),
});

export const followRoute = defineRoute({
  method: "PUT",
  path: "/_nova/v1/users/:userId/follow",
  summary: "Follow a user (idempotent)",
  tag: TAG,
  params: userParam,
  response: followState,
});
export const unfollowRoute = defineRoute({
  method: "DELETE",
  path: "/_nova/v1/users/:userId/follow",
  summary: "Stop following a user (idempotent)",
  tag: TAG,
  params: userParam,
  response: followState,
});
export const followersRoute = defineRoute({
  method: "GET",
  path: "/_nova/v1/users/:userId/followers",
  summary: "Who follows the user, newest first",
  tag: TAG,
  params: userParam,
  query: pageQuery(20, 100),
  response: pageOf("followers", edge),
});
export const followingRoute = defineRoute({
  method: "GET",
  path: "/_nova/v1/users/:userId/following",
  summary: "Whom the user follows, newest first",
  tag: TAG,
  params: userParam,
  query: pageQuery(20, 100),
  response: pageOf("following", edge),
});
export const socialRoute = defineRoute({
  method: "GET",
  path: "/_nova/v1/users/:userId/social",
  summary: "A user's follower and following counts, and how they relate to the caller",
  tag: TAG,
  params: userParam,
  response: social,
});

/** Graph's REST routes, as data (the lead publishes them in /_nova/v1/openapi.json). */
export const GRAPH_ROUTES = [
  followRoute,
  unfollowRoute,
  followersRoute,
  followingRoute,
  socialRoute,
] as const;

function caller(req: Request): string {
  if (!req.auth) throw missingToken();
  return req.auth.userId;
}

const edges = (page: FollowPage) => page.items.map((e) => ({ user_id: e.userId, followed_at: e.followedAt }));

/** Registers graph's `/_nova/v1` routes on a router (the homeserver's, or graph's own). */
export function mountGraphRoutes(router: Router, graph: GraphService): void {
  mountRoute(router, followRoute, async ({ params, req }) => ({
    following: (await graph.follow(caller(req), params.userId)).following,
  }));
  mountRoute(router, unfollowRoute, async ({ params, req }) => ({
    following: (await graph.unfollow(caller(req), params.userId)).following,
  }));
  mountRoute(router, followersRoute, async ({ params, query, req }) => {
    const page = await graph.listFor(caller(req), "followers", params.userId, query);
    return { followers: edges(page), ...(page.next ? { next: page.next } : {}) };
  });
  mountRoute(router, followingRoute, async ({ params, query, req }) => {
    const page = await graph.listFor(caller(req), "following", params.userId, query);
    return { following: edges(page), ...(page.next ? { next: page.next } : {}) };
  });
  mountRoute(router, socialRoute, async ({ params, req }) => {
    const v = await graph.socialView(caller(req), params.userId);
    return {
      user_id: v.userId,
      follower_count: v.followerCount,
      following_count: v.followingCount,
      following: v.following,
      followed_by: v.followedBy,
    };
  });
}
