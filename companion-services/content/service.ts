import type { Kysely } from "kysely";
import type { GraphClient } from "../graph/client.ts";
import type { MediaClient } from "../media/client.ts";
import { PostAccess } from "./access.ts";
import { BookmarksRepository } from "./bookmarks.repository.ts";
import { BookmarksService } from "./bookmarks.service.ts";
import type { ContentClient, PostPage, PostView } from "./client.ts";
import { CommentsRepository } from "./comments.repository.ts";
import type { ContentSettings } from "./config.ts";
import type { ContentContext } from "./context.ts";
import { InteractionsService } from "./interactions.service.ts";
import { PostsRepository } from "./posts.repository.ts";
import { PostsService } from "./posts.service.ts";
import { ReactionsRepository } from "./reactions.repository.ts";
import type { ContentTables } from "./tables.ts";

export type ContentServiceDeps = {
  db: Kysely<ContentTables>;
  schema: string;
  media: Pick<MediaClient, "getMediaBatch" | "getVideo">;
  /** Followers-only posts: without graph, only their author sees them. */
  graph?: Pick<GraphClient, "isFollowing"> | undefined;
  settings: ContentSettings;
  now?: () => number;
};

/**
 * The content service: what other services read (ContentClient) and the writes behind the REST
 * API, split by area (posts, interactions, bookmarks).
 */
export class ContentService implements ContentClient {
  readonly posts: PostsService;
  readonly interactions: InteractionsService;
  readonly bookmarks: BookmarksService;
  private readonly ctx: ContentContext;

  constructor(deps: ContentServiceDeps) {
    const repo = new PostsRepository(deps.db);
    this.ctx = {
      db: deps.db,
      schema: deps.schema,
      posts: repo,
      access: new PostAccess(deps.graph),
      media: deps.media,
      graph: deps.graph,
      settings: deps.settings,
      now: deps.now ?? monotonicClock(),
    };
    this.posts = new PostsService(this.ctx);
    this.interactions = new InteractionsService(
      this.ctx,
      this.posts,
      new CommentsRepository(deps.db),
      new ReactionsRepository(deps.db),
    );
    this.bookmarks = new BookmarksService(this.ctx, this.posts, new BookmarksRepository(deps.db));
  }

  /** Graph arrives after content in some wirings (the lead's cross-service step). */
  useGraph(graph: Pick<GraphClient, "isFollowing">): void {
    this.ctx.graph = graph;
    this.ctx.access.useGraph(graph);
  }

  getPost(postId: string, viewerId: string | null): Promise<PostView | null> {
    return this.posts.getPost(postId, viewerId);
  }

  getPosts(postIds: string[]): Promise<PostView[]> {
    return this.posts.getPosts(postIds);
  }

  getUserPosts(authorId: string, page: { from?: string | null; limit: number }): Promise<PostPage> {
    return this.posts.getUserPosts(authorId, page);
  }
}

/**
 * Milliseconds that never repeat within a process: pages sort by time, so two writes in one
 * millisecond would otherwise order by their random ids, not by which came first.
 */
function monotonicClock(): () => number {
  let last = 0;
  return () => {
    last = Math.max(Date.now(), last + 1);
    return last;
  };
}
