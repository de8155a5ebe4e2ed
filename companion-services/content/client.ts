/**
 * What other services ask content (feed hydrates timelines with getPosts; search and
 * notifications may look a post up). Served in-process by the content service and over gRPC
 * (content.proto) by `nova serve content`. Deleted posts and drafts are never returned by
 * getPosts / getUserPosts; getPost returns a draft to its author only.
 */
export type PostVisibility = "public" | "followers";
export type PostStatus = "draft" | "published" | "deleted";

export type PostView = {
  id: string;
  authorId: string;
  title: string | null;
  content: string;
  status: PostStatus;
  visibility: PostVisibility;
  /** BCP 47 tag the author gave, or null. */
  language: string | null;
  /** mxc:// URIs, in order. */
  images: string[];
  /** Media video ids, in order. */
  videos: string[];
  /** When set, this post is a share of that post. */
  sharedPostId: string | null;
  likeCount: number;
  commentCount: number;
  shareCount: number;
  createdAt: number;
  updatedAt: number;
};

export type PostPage = { items: PostView[]; next: string | null };

export interface ContentClient {
  /** One post as `viewerId` may see it (null viewer: a service asking), or null. */
  getPost(postId: string, viewerId: string | null): Promise<PostView | null>;
  /** Published posts among `postIds`, in the order asked; unknown, deleted or draft ids are left out. */
  getPosts(postIds: string[]): Promise<PostView[]>;
  /** An author's published posts, newest first. */
  getUserPosts(authorId: string, page: { from?: string | null; limit: number }): Promise<PostPage>;
}
