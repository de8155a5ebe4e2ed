import { z } from "zod";
import { notFound } from "../../platform/errors.ts";
import { defineRoute, mountRoute, pageOf, pageQuery, userIdSchema } from "../../platform/http/api.ts";
import type { Router } from "../../platform/http/router.ts";
import type { ContentService } from "../service.ts";
import {
  createPostBody,
  EMPTY_OBJECT,
  editPostBody,
  nextOf,
  postJson,
  postParams,
  postToJson,
  TAG,
  userOf,
} from "./schemas.ts";

export const POST_ROUTES = {
  create: defineRoute({
    method: "POST",
    path: "/_nova/v1/posts",
    summary: "Create a post (published unless status is draft)",
    tag: TAG,
    body: createPostBody,
    response: postJson,
  }),
  get: defineRoute({
    method: "GET",
    path: "/_nova/v1/posts/:postId",
    summary: "A post the caller may see",
    tag: TAG,
    params: postParams,
    response: postJson,
  }),
  edit: defineRoute({
    method: "PATCH",
    path: "/_nova/v1/posts/:postId",
    summary: "Edit one's own post (fields given are replaced; status draft/published)",
    tag: TAG,
    params: postParams,
    body: editPostBody,
    response: postJson,
  }),
  delete: defineRoute({
    method: "DELETE",
    path: "/_nova/v1/posts/:postId",
    summary: "Delete one's own post",
    tag: TAG,
    params: postParams,
    response: EMPTY_OBJECT,
  }),
  userPosts: defineRoute({
    method: "GET",
    path: "/_nova/v1/users/:userId/posts",
    summary: "A user's published posts the caller may see, newest first",
    tag: TAG,
    params: z.object({ userId: userIdSchema }),
    query: pageQuery(),
    response: pageOf("posts", postJson),
  }),
} as const;

export function mountPostRoutes(router: Router, content: ContentService): void {
  mountRoute(router, POST_ROUTES.create, async ({ body, req }) =>
    postToJson(await content.posts.create(userOf(req), body)),
  );
  mountRoute(router, POST_ROUTES.get, async ({ params, req }) => {
    const post = await content.posts.getPost(params.postId, userOf(req));
    if (!post) throw notFound("No such post");
    return postToJson(post);
  });
  mountRoute(router, POST_ROUTES.edit, async ({ params, body, req }) =>
    postToJson(await content.posts.edit(userOf(req), params.postId, body)),
  );
  mountRoute(router, POST_ROUTES.delete, async ({ params, req }) => {
    await content.posts.delete(userOf(req), params.postId);
    return {};
  });
  mountRoute(router, POST_ROUTES.userPosts, async ({ params, query, req }) => {
    const page = await content.posts.userPosts(params.userId, userOf(req), query);
    return { posts: page.items.map(postToJson), ...nextOf(page.next) };
  });
}
