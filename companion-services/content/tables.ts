import type { OutboxTables } from "../platform/outbox/tables.ts";
import type { PostStatus, PostVisibility } from "./client.ts";

/** The content service's tables (migrations/content 0001, 0002). Times are ms since the epoch. */
export type ContentTables = OutboxTables & {
  posts: {
    id: string;
    author_id: string;
    title: string | null;
    content: string;
    status: PostStatus;
    visibility: PostVisibility;
    language: string | null;
    shared_post_id: string | null;
    created_at: number;
    updated_at: number;
    deleted_at: number | null;
  };
  post_metadata: { post_id: string; like_count: number; comment_count: number; share_count: number };
  comments: {
    id: string;
    post_id: string;
    parent_id: string | null;
    author_id: string;
    content: string;
    created_at: number;
    deleted_at: number | null;
  };
  post_images: { post_id: string; position: number; media_uri: string };
  post_videos: { post_id: string; position: number; video_id: string };
  post_shares: { id: string; post_id: string; user_id: string; created_at: number };
  likes: { post_id: string; user_id: string; created_at: number };
  bookmark_collections: { id: string; user_id: string; name: string; created_at: number };
  bookmarks: { user_id: string; post_id: string; collection_id: string | null; created_at: number };
};
