import { z } from "zod";
import { defineRoute, mountRoute, pageOf, pageQuery, safeText } from "../../platform/http/api.ts";
import type { Router } from "../../platform/http/router.ts";
import type { ContentService } from "../service.ts";
import {
  commentJson,
  commentToJson,
  EMPTY_OBJECT,
  postParams,
  TAG,
  TEXT_CEILING,
  userOf,
} from "./schemas.ts";

export const COMMENT_ROUTES = {
  list: defineRoute({
    method: "GET",
    path: "/_nova/v1/posts/:postId/comments",
    summary: "A post's comments, oldest first (threads by parent_id)",
    tag: TAG,
    params: postParams,
    query: pageQuery(50, 200),
    response: pageOf("comments", commentJson),
  }),
  create: defineRoute({
    method: "POST",
    path: "/_nova/v1/posts/:postId/comments",
    summary: "Comment on a post, or reply to one of its comments (parent_id)",
    tag: TAG,
    params: postParams,
    body: z
      .object({ content: safeText(TEXT_CEILING).min(1), parent_id: safeText(64).nullable().optional() })
      .strict(),
    response: commentJson,
  }),
  delete: defineRoute({
    method: "DELETE",
    path: "/_nova/v1/posts/:postId/comments/:commentId",
    summary: "Delete a comment (its author or the post's author)",
    tag: TAG,
    params: postParams.extend({ commentId: safeText(128) }),
    response: EMPTY_OBJECT,
  }),
} as const;

export function mountCommentRoutes(router: Router, content: ContentService): void {
  mountRoute(router, COMMENT_ROUTES.list, async ({ params, query, req }) => {
    const page = await content.interactions.listComments(userOf(req), params.postId, query);
    return { comments: page.items.map(commentToJson), ...(page.next ? { next: page.next } : {}) };
  });
  mountRoute(router, COMMENT_ROUTES.create, async ({ params, body, req }) =>
    commentToJson(
      await content.interactions.comment(userOf(req), params.postId, {
        content: body.content,
        parentId: body.parent_id ?? null,
      }),
    ),
  );
  mountRoute(router, COMMENT_ROUTES.delete, async ({ params, req }) => {
    await content.interactions.deleteComment(userOf(req), params.postId, params.commentId);
    return {};
  });
}
