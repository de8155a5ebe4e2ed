import { z } from "zod";
import { defineRoute, mountRoute, safeText } from "../../platform/http/api.ts";
import type { Router } from "../../platform/http/router.ts";
import type { ContentService } from "../service.ts";
import { postJson, postParams, postToJson, TAG, TEXT_CEILING, userOf } from "./schemas.ts";

const liked = z.object({ liked: z.boolean(), like_count: z.number().int() });

export const REACTION_ROUTES = {
  like: defineRoute({
    method: "PUT",
    path: "/_nova/v1/posts/:postId/like",
    summary: "Like a post (liking again changes nothing)",
    tag: TAG,
    params: postParams,
    response: liked,
  }),
  unlike: defineRoute({
    method: "DELETE",
    path: "/_nova/v1/posts/:postId/like",
    summary: "Take a like back (idempotent)",
    tag: TAG,
    params: postParams,
    response: liked,
  }),
  share: defineRoute({
    method: "POST",
    path: "/_nova/v1/posts/:postId/share",
    summary:
      "Share a public post (a post of one's own pointing at it); sharing again answers the first share",
    tag: TAG,
    params: postParams,
    body: z.object({ content: safeText(TEXT_CEILING).optional() }).strict(),
    response: z.object({ share_id: z.string(), post: postJson }),
  }),
} as const;

export function mountReactionRoutes(router: Router, content: ContentService): void {
  // like_count is the consumer's (it follows the event): it may lag this answer by a moment.
  const state = async (postId: string, userId: string) => ({
    liked: await content.interactions.likedBy(postId, userId),
    like_count: (await content.posts.getPost(postId, userId))?.likeCount ?? 0,
  });
  mountRoute(router, REACTION_ROUTES.like, async ({ params, req }) => {
    await content.interactions.like(userOf(req), params.postId);
    return state(params.postId, userOf(req));
  });
  mountRoute(router, REACTION_ROUTES.unlike, async ({ params, req }) => {
    await content.interactions.unlike(userOf(req), params.postId);
    return state(params.postId, userOf(req));
  });
  mountRoute(router, REACTION_ROUTES.share, async ({ params, body, req }) => {
    const r = await content.interactions.share(userOf(req), params.postId, { content: body.content });
    return { share_id: r.shareId, post: postToJson(r.post) };
  });
}
