import { z } from "zod";
import type { PostView } from "./client.ts";

/**
 * A post as the REST API shows it: content's own routes and feed's timeline (which hydrates
 * through content's client) answer with the same object, so a client reads one shape.
 */
export const postJson = z.object({
  post_id: z.string(),
  author_id: z.string(),
  title: z.string().nullable(),
  content: z.string(),
  status: z.enum(["draft", "published", "deleted"]),
  visibility: z.enum(["public", "followers"]),
  language: z.string().nullable(),
  images: z.array(z.string()),
  videos: z.array(z.string()),
  shared_post_id: z.string().nullable(),
  like_count: z.number().int(),
  comment_count: z.number().int(),
  share_count: z.number().int(),
  created_at: z.number().int(),
  updated_at: z.number().int(),
});

export function postToJson(p: PostView): z.input<typeof postJson> {
  return {
    post_id: p.id,
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
  };
}
