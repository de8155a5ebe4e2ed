import { z } from "zod";
import type { PostView } from "./client.ts";

/**
 * Content's events, from its outbox on topic `nova.post.events` (the seed's name), keyed by the
 * post id so one post's events keep their order. Feed fans `post.published` out and drops
 * `post.deleted`; search indexes posts and comments; notifications tells authors about likes,
 * comments, shares and mentions; content's own consumer keeps `post_metadata` counts.
 */
export const CONTENT_AGGREGATE = "post";

const userId = z.string().startsWith("@");
const uuid = z.string().uuid();

/** A post's public snapshot, as it is when the event is written. */
export const postSnapshot = z.object({
  post_id: uuid,
  author_id: userId,
  title: z.string().nullable(),
  content: z.string(),
  visibility: z.enum(["public", "followers"]),
  language: z.string().nullable(),
  images: z.array(z.string()),
  videos: z.array(z.string()),
  shared_post_id: uuid.nullable(),
  created_at: z.number().int(),
  updated_at: z.number().int(),
});

/** A post's snapshot for its events, from the view content serves. */
export function snapshotOf(p: PostView): z.infer<typeof postSnapshot> {
  return {
    post_id: p.id,
    author_id: p.authorId,
    title: p.title,
    content: p.content,
    visibility: p.visibility,
    language: p.language,
    images: p.images,
    videos: p.videos,
    shared_post_id: p.sharedPostId,
    created_at: p.createdAt,
    updated_at: p.updatedAt,
  };
}

/** Became visible: created as published, or a draft published. */
export const postPublished = postSnapshot;
/** A published post's text, title, visibility or media changed. */
export const postUpdated = postSnapshot;
/** Deleted (or taken back to draft): it leaves feeds and search. */
export const postDeleted = z.object({ post_id: uuid, author_id: userId, deleted_at: z.number().int() });

export const commentCreated = z.object({
  comment_id: uuid,
  post_id: uuid,
  post_author_id: userId,
  parent_id: uuid.nullable(),
  author_id: userId,
  content: z.string(),
  created_at: z.number().int(),
});
export const commentDeleted = z.object({
  comment_id: uuid,
  post_id: uuid,
  author_id: userId,
  deleted_at: z.number().int(),
});

export const postLiked = z.object({
  post_id: uuid,
  post_author_id: userId,
  user_id: userId,
  created_at: z.number().int(),
});
export const postUnliked = z.object({
  post_id: uuid,
  post_author_id: userId,
  user_id: userId,
  deleted_at: z.number().int(),
});
export const postShared = z.object({
  share_id: uuid,
  post_id: uuid,
  post_author_id: userId,
  user_id: userId,
  created_at: z.number().int(),
});

/** `@user:server` named in a published post or a comment (one event per user named). */
export const userMentioned = z.object({
  post_id: uuid,
  comment_id: uuid.nullable(),
  author_id: userId,
  mentioned_user_id: userId,
  created_at: z.number().int(),
});

export const CONTENT_EVENTS = {
  "post.published": postPublished,
  "post.updated": postUpdated,
  "post.deleted": postDeleted,
  "comment.created": commentCreated,
  "comment.deleted": commentDeleted,
  "post.liked": postLiked,
  "post.unliked": postUnliked,
  "post.shared": postShared,
  "user.mentioned": userMentioned,
} as const;

export type ContentEventType = keyof typeof CONTENT_EVENTS;
export type ContentEventPayload<T extends ContentEventType> = z.infer<(typeof CONTENT_EVENTS)[T]>;

export function contentEvent<T extends ContentEventType>(eventType: T, payload: ContentEventPayload<T>) {
  return { aggregateType: CONTENT_AGGREGATE, aggregateId: payload.post_id, eventType, payload };
}
