import { randomUUID } from "node:crypto";
import { forbidden, invalidParam, MatrixError, notFound } from "../platform/errors.ts";
import { withOutbox } from "../platform/outbox/writer.ts";
import type { PostView } from "./client.ts";
import type { CommentRow, CommentsRepository } from "./comments.repository.ts";
import type { ContentContext } from "./context.ts";
import { decodeCursor, isUuid, pageFrom } from "./cursor.ts";
import { contentEvent } from "./events.ts";
import { parseMentions } from "./mentions.ts";
import type { PostsService } from "./posts.service.ts";
import type { ReactionsRepository } from "./reactions.repository.ts";

export type CommentView = {
  id: string;
  postId: string;
  parentId: string | null;
  authorId: string;
  content: string;
  createdAt: number;
};

export type ShareResult = { shareId: string; post: PostView };

/**
 * Comments, likes and shares of posts the caller may see. Every write and its event commit
 * together; the counts follow from the events (consumers.ts), so a write never touches
 * post_metadata itself.
 */
export class InteractionsService {
  constructor(
    private readonly ctx: ContentContext,
    private readonly posts: PostsService,
    private readonly comments: CommentsRepository,
    private readonly reactions: ReactionsRepository,
  ) {}

  async comment(
    userId: string,
    postId: string,
    input: { content: string; parentId?: string | null | undefined },
  ): Promise<CommentView> {
    if (input.content.length > this.ctx.settings.maxCommentChars)
      throw new MatrixError(
        400,
        "M_TOO_LARGE",
        `content: at most ${this.ctx.settings.maxCommentChars} characters`,
      );
    const post = await this.posts.published(postId, userId);
    const parentId = input.parentId ?? null;
    if (parentId !== null) {
      const parent = isUuid(parentId) ? await this.comments.row(this.ctx.db, parentId) : null;
      if (!parent || parent.post_id !== post.id || parent.deleted_at !== null)
        throw invalidParam("parent_id: not a comment of this post");
    }
    const row = {
      id: randomUUID(),
      post_id: post.id,
      parent_id: parentId,
      author_id: userId,
      content: input.content,
      created_at: this.ctx.now(),
    };
    await withOutbox(this.ctx.db, this.ctx.schema, async (trx, emit) => {
      await this.comments.insert(trx, row);
      emit(
        contentEvent("comment.created", {
          comment_id: row.id,
          post_id: post.id,
          post_author_id: post.authorId,
          parent_id: parentId,
          author_id: userId,
          content: row.content,
          created_at: row.created_at,
        }),
      );
      for (const u of parseMentions(row.content, userId))
        emit(
          contentEvent("user.mentioned", {
            post_id: post.id,
            comment_id: row.id,
            author_id: userId,
            mentioned_user_id: u,
            created_at: row.created_at,
          }),
        );
    });
    return commentView({ ...row, deleted_at: null });
  }

  async listComments(viewerId: string, postId: string, page: { from?: string | undefined; limit: number }) {
    const post = await this.posts.published(postId, viewerId);
    const rows = await this.comments.page(post.id, decodeCursor(page.from), page.limit + 1);
    const { items, next } = pageFrom(rows, page.limit, (r) => ({ at: Number(r.created_at), id: r.id }));
    return { items: items.map(commentView), next };
  }

  /** The comment's author or the post's author may delete it; twice is the same as once. */
  async deleteComment(userId: string, postId: string, commentId: string): Promise<void> {
    const post = await this.posts.published(postId, userId);
    const row = isUuid(commentId) ? await this.comments.row(this.ctx.db, commentId) : null;
    if (!row || row.post_id !== post.id || row.deleted_at !== null) throw notFound("No such comment");
    if (row.author_id !== userId && post.authorId !== userId)
      throw forbidden("Only the comment's or the post's author may delete it");
    await withOutbox(this.ctx.db, this.ctx.schema, async (trx, emit) => {
      const at = this.ctx.now();
      if (await this.comments.markDeleted(trx, commentId, at))
        emit(
          contentEvent("comment.deleted", {
            comment_id: commentId,
            post_id: post.id,
            author_id: row.author_id,
            deleted_at: at,
          }),
        );
    });
  }

  /** Idempotent: a second like is a no-op with no event. */
  async like(userId: string, postId: string): Promise<void> {
    const post = await this.posts.published(postId, userId);
    await withOutbox(this.ctx.db, this.ctx.schema, async (trx, emit) => {
      const at = this.ctx.now();
      if (await this.reactions.like(trx, post.id, userId, at))
        emit(
          contentEvent("post.liked", {
            post_id: post.id,
            post_author_id: post.authorId,
            user_id: userId,
            created_at: at,
          }),
        );
    });
  }

  async unlike(userId: string, postId: string): Promise<void> {
    const post = await this.posts.published(postId, userId);
    await withOutbox(this.ctx.db, this.ctx.schema, async (trx, emit) => {
      if (await this.reactions.unlike(trx, post.id, userId))
        emit(
          contentEvent("post.unliked", {
            post_id: post.id,
            post_author_id: post.authorId,
            user_id: userId,
            deleted_at: this.ctx.now(),
          }),
        );
    });
  }

  likedBy(postId: string, userId: string): Promise<boolean> {
    return isUuid(postId) ? this.reactions.likedBy(postId, userId) : Promise.resolve(false);
  }

  /**
   * A share is a post of the sharer's own (`shared_post_id`, an optional comment as its text) and
   * a post_shares row with the same id: feeds show it, the original counts it once per user. A
   * share of a share shares the original; only public posts may be shared (a followers-only
   * post must not reach the sharer's followers). Sharing again answers the first share.
   */
  async share(userId: string, postId: string, input: { content?: string | undefined }): Promise<ShareResult> {
    const seen = await this.posts.published(postId, userId);
    const original = seen.sharedPostId ? await this.posts.published(seen.sharedPostId, userId) : seen;
    if (original.visibility !== "public") throw forbidden("Only public posts may be shared");
    const content = input.content ?? "";
    if (content.length > this.ctx.settings.maxPostChars)
      throw new MatrixError(
        400,
        "M_TOO_LARGE",
        `content: at most ${this.ctx.settings.maxPostChars} characters`,
      );
    const existing = await this.reactions.shareOf(this.ctx.db, original.id, userId);
    const shareId = existing?.id ?? randomUUID();
    if (!existing) {
      await withOutbox(this.ctx.db, this.ctx.schema, async (trx, emit) => {
        const at = this.ctx.now();
        if (!(await this.reactions.share(trx, { id: shareId, postId: original.id, userId, at }))) return;
        await this.posts.insertWith(trx, emit, {
          id: shareId,
          authorId: userId,
          title: null,
          content,
          status: "published",
          visibility: "public",
          language: null,
          images: [],
          videos: [],
          sharedPostId: original.id,
          at,
        });
        emit(
          contentEvent("post.shared", {
            share_id: shareId,
            post_id: original.id,
            post_author_id: original.authorId,
            user_id: userId,
            created_at: at,
          }),
        );
      });
    }
    const share = (await this.ctx.posts.views([existing?.id ?? shareId]))[0];
    // A lost race: the other request's share stands.
    if (!share) return this.share(userId, postId, input);
    return { shareId: share.id, post: share };
  }
}

function commentView(r: CommentRow): CommentView {
  return {
    id: r.id,
    postId: r.post_id,
    parentId: r.parent_id,
    authorId: r.author_id,
    content: r.content,
    createdAt: Number(r.created_at),
  };
}
