import { randomUUID } from "node:crypto";
import { notFound } from "../platform/errors.ts";
import type { BookmarksRepository, CollectionRow } from "./bookmarks.repository.ts";
import type { PostView } from "./client.ts";
import type { ContentContext } from "./context.ts";
import { decodeCursor, isUuid, pageFrom } from "./cursor.ts";
import type { PostsService } from "./posts.service.ts";

export type BookmarkView = { postId: string; collectionId: string | null; createdAt: number; post: PostView };
export type CollectionView = { id: string; name: string; createdAt: number };

/** A user's bookmarks of posts they may see, and the collections they sort them into. */
export class BookmarksService {
  constructor(
    private readonly ctx: ContentContext,
    private readonly posts: PostsService,
    private readonly repo: BookmarksRepository,
  ) {}

  async put(userId: string, postId: string, collectionId: string | null): Promise<void> {
    const post = await this.posts.published(postId, userId);
    if (collectionId !== null) await this.ownCollection(userId, collectionId);
    await this.repo.put(userId, post.id, collectionId, this.ctx.now());
  }

  /** Removing a bookmark that is not there is fine; an id that names no post is 404. */
  async remove(userId: string, postId: string): Promise<void> {
    if (!isUuid(postId)) throw notFound("No such post");
    await this.repo.remove(userId, postId);
  }

  /** Newest first; bookmarks of posts deleted or no longer visible are left out of the page. */
  async list(
    userId: string,
    opts: { collectionId?: string | undefined; from?: string | undefined; limit: number },
  ): Promise<{ items: BookmarkView[]; next: string | null }> {
    const collectionId = opts.collectionId ?? null;
    if (collectionId !== null) await this.ownCollection(userId, collectionId);
    const rows = await this.repo.page(userId, {
      collectionId,
      after: decodeCursor(opts.from),
      limit: opts.limit + 1,
    });
    const { items, next } = pageFrom(rows, opts.limit, (r) => ({ at: Number(r.created_at), id: r.post_id }));
    const posts = await this.posts.visibleMany(
      items.map((r) => r.post_id),
      userId,
    );
    const out = items.flatMap((r) => {
      const post = posts.get(r.post_id);
      return post
        ? [{ postId: r.post_id, collectionId: r.collection_id, createdAt: Number(r.created_at), post }]
        : [];
    });
    return { items: out, next };
  }

  async createCollection(userId: string, name: string): Promise<CollectionView> {
    const row = await this.repo.createCollection(this.ctx.db, {
      id: randomUUID(),
      user_id: userId,
      name,
      created_at: this.ctx.now(),
    });
    return collectionView(row);
  }

  async collections(userId: string, page: { from?: string | undefined; limit: number }) {
    const rows = await this.repo.collections(userId, decodeCursor(page.from), page.limit + 1);
    const { items, next } = pageFrom(rows, page.limit, (r) => ({ at: Number(r.created_at), id: r.id }));
    return { items: items.map(collectionView), next };
  }

  /** Another user's collection is as unknown as a missing one. */
  private async ownCollection(userId: string, id: string): Promise<CollectionRow> {
    const row = isUuid(id) ? await this.repo.collection(userId, id) : null;
    if (!row) throw notFound("No such bookmark collection");
    return row;
  }
}

const collectionView = (r: CollectionRow): CollectionView => ({
  id: r.id,
  name: r.name,
  createdAt: Number(r.created_at),
});
