import { z } from "zod";
import { defineRoute, mountRoute, pageOf, pageQuery, safeText } from "../../platform/http/api.ts";
import type { Router } from "../../platform/http/router.ts";
import type { ContentService } from "../service.ts";
import {
  bookmarkJson,
  bookmarkToJson,
  collectionJson,
  collectionToJson,
  EMPTY_OBJECT,
  nextOf,
  postParams,
  TAG,
  userOf,
} from "./schemas.ts";

const collectionName = safeText(100)
  .min(1)
  .refine((s) => s.trim().length > 0, "must not be blank");

export const BOOKMARK_ROUTES = {
  list: defineRoute({
    method: "GET",
    path: "/_nova/v1/bookmarks",
    summary: "The caller's bookmarks, newest first (of one collection with collection_id)",
    tag: TAG,
    query: pageQuery().extend({ collection_id: safeText(64).optional() }),
    response: pageOf("bookmarks", bookmarkJson),
  }),
  put: defineRoute({
    method: "PUT",
    path: "/_nova/v1/bookmarks/:postId",
    summary: "Bookmark a post (again: move it to collection_id)",
    tag: TAG,
    params: postParams,
    body: z.object({ collection_id: safeText(64).nullable().optional() }).strict(),
    response: EMPTY_OBJECT,
  }),
  delete: defineRoute({
    method: "DELETE",
    path: "/_nova/v1/bookmarks/:postId",
    summary: "Remove a bookmark (idempotent)",
    tag: TAG,
    params: postParams,
    response: EMPTY_OBJECT,
  }),
  collections: defineRoute({
    method: "GET",
    path: "/_nova/v1/bookmarks/collections",
    summary: "The caller's bookmark collections, oldest first",
    tag: TAG,
    query: pageQuery(50, 200),
    response: pageOf("collections", collectionJson),
  }),
  createCollection: defineRoute({
    method: "POST",
    path: "/_nova/v1/bookmarks/collections",
    summary: "Create a bookmark collection (a name already used answers that collection)",
    tag: TAG,
    body: z.object({ name: collectionName }).strict(),
    response: collectionJson,
  }),
} as const;

export function mountBookmarkRoutes(router: Router, content: ContentService): void {
  // The literal /collections paths first: /bookmarks/:postId would take them otherwise.
  mountRoute(router, BOOKMARK_ROUTES.collections, async ({ query, req }) => {
    const page = await content.bookmarks.collections(userOf(req), query);
    return { collections: page.items.map(collectionToJson), ...nextOf(page.next) };
  });
  mountRoute(router, BOOKMARK_ROUTES.createCollection, async ({ body, req }) =>
    collectionToJson(await content.bookmarks.createCollection(userOf(req), body.name.trim())),
  );
  mountRoute(router, BOOKMARK_ROUTES.list, async ({ query, req }) => {
    const page = await content.bookmarks.list(userOf(req), {
      collectionId: query.collection_id,
      from: query.from,
      limit: query.limit,
    });
    return { bookmarks: page.items.map(bookmarkToJson), ...nextOf(page.next) };
  });
  mountRoute(router, BOOKMARK_ROUTES.put, async ({ params, body, req }) => {
    await content.bookmarks.put(userOf(req), params.postId, body.collection_id ?? null);
    return {};
  });
  mountRoute(router, BOOKMARK_ROUTES.delete, async ({ params, req }) => {
    await content.bookmarks.remove(userOf(req), params.postId);
    return {};
  });
}
