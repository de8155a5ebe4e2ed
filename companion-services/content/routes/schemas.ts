import { z } from "zod";
import { MatrixError } from "../../platform/errors.ts";
import { safeText } from "../../platform/http/api.ts";
import type { Request } from "../../platform/http/router.ts";
import type { BookmarkView, CollectionView } from "../bookmarks.service.ts";
import type { CommentView } from "../interactions.service.ts";

export const TAG = "content";

/**
 * The schemas' own ceilings; the configured limits (NOVA_CONTENT_MAX_POST_CHARS…) are checked by
 * the service below them (M_TOO_LARGE), so the published document does not depend on settings.
 */
export const TEXT_CEILING = 100_000;
export const MAX_IMAGES = 10;
export const MAX_VIDEOS = 4;

/** Any string names a post: a malformed id is a post that does not exist (404), not a 400. */
export const postParams = z.object({ postId: safeText(128) });

const mxc = safeText(512).regex(/^mxc:\/\/[^/]+\/[A-Za-z0-9_-]+$/, "must be an mxc:// URI");
const language = z
  .string()
  .max(35)
  .regex(/^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*$/, "must be a BCP 47 language tag");

import { postJson, postToJson } from "../wire.ts";

export { postJson, postToJson };

export const visibility = z.enum(["public", "followers"]);

export const createPostBody = z
  .object({
    title: safeText(300).nullable().optional(),
    content: safeText(TEXT_CEILING),
    status: z.enum(["draft", "published"]).optional(),
    visibility: visibility.optional(),
    language: language.nullable().optional(),
    images: z.array(mxc).max(MAX_IMAGES).optional(),
    videos: z.array(safeText(64)).max(MAX_VIDEOS).optional(),
  })
  .strict();

export const editPostBody = createPostBody.partial().strict();

export const commentJson = z.object({
  comment_id: z.string(),
  post_id: z.string(),
  parent_id: z.string().nullable(),
  author_id: z.string(),
  content: z.string(),
  created_at: z.number().int(),
});

export const collectionJson = z.object({
  collection_id: z.string(),
  name: z.string(),
  created_at: z.number().int(),
});

export const bookmarkJson = z.object({
  post_id: z.string(),
  collection_id: z.string().nullable(),
  created_at: z.number().int(),
  post: postJson,
});

export const EMPTY_OBJECT = z.object({});

export const commentToJson = (c: CommentView): z.input<typeof commentJson> => ({
  comment_id: c.id,
  post_id: c.postId,
  parent_id: c.parentId,
  author_id: c.authorId,
  content: c.content,
  created_at: c.createdAt,
});

export const collectionToJson = (c: CollectionView): z.input<typeof collectionJson> => ({
  collection_id: c.id,
  name: c.name,
  created_at: c.createdAt,
});

export const bookmarkToJson = (b: BookmarkView): z.input<typeof bookmarkJson> => ({
  post_id: b.postId,
  collection_id: b.collectionId,
  created_at: b.createdAt,
  post: postToJson(b.post),
});

/** A page's `next` is absent on the last page. */
export const nextOf = (next: string | null) => (next ? { next } : {});

/** Routes here require a token, so auth is always set; the check keeps the type honest. */
export function userOf(req: Request): string {
  if (!req.auth) throw new MatrixError(401, "M_MISSING_TOKEN", "Missing access token");
  return req.auth.userId;
}
