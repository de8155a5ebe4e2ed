import { randomUUID } from "node:crypto";
import type { Transaction } from "kysely";
import { forbidden, invalidParam, MatrixError, notFound } from "../platform/errors.ts";
import type { NewEvent } from "../platform/outbox/writer.ts";
import { withOutbox } from "../platform/outbox/writer.ts";
import type { PostPage, PostStatus, PostView, PostVisibility } from "./client.ts";
import type { ContentContext } from "./context.ts";
import { decodeCursor, isUuid, pageFrom } from "./cursor.ts";
import { contentEvent, snapshotOf } from "./events.ts";
import { checkPostMedia } from "./media-check.ts";
import { parseMentions } from "./mentions.ts";
import type { NewPost, PostRow } from "./posts.repository.ts";
import type { ContentTables } from "./tables.ts";

export type CreatePost = {
  title?: string | null | undefined;
  content: string;
  status?: "draft" | "published" | undefined;
  visibility?: PostVisibility | undefined;
  language?: string | null | undefined;
  images?: string[] | undefined;
  videos?: string[] | undefined;
};

export type EditPost = Partial<CreatePost>;

type Emit = (e: NewEvent) => void;

/** Posts: create, edit, delete by their author; reads as a viewer may see them. */
export class PostsService {
  constructor(private readonly ctx: ContentContext) {}

  async create(authorId: string, input: CreatePost): Promise<PostView> {
    this.checkLength(input.content);
    const images = input.images ?? [];
    const videos = input.videos ?? [];
    await checkPostMedia(this.ctx.media, authorId, images, videos);
    const id = randomUUID();
    const at = this.ctx.now();
    const status = input.status ?? "published";
    await withOutbox(this.ctx.db, this.ctx.schema, async (trx, emit) => {
      await this.insertWith(trx, emit, {
        id,
        authorId,
        title: input.title ?? null,
        content: input.content,
        status,
        visibility: input.visibility ?? "public",
        language: input.language ?? null,
        images,
        videos,
        sharedPostId: null,
        at,
      });
    });
    return this.mustView(id);
  }

  /** Inserts a post inside the caller's transaction and queues its events (shares use it too). */
  async insertWith(trx: Transaction<ContentTables>, emit: Emit, p: NewPost) {
    await this.ctx.posts.insert(trx, p);
    if (p.status !== "published") return;
    const [view] = await this.ctx.posts.views([p.id], trx);
    emit(contentEvent("post.published", snapshotOf(view)));
    this.emitMentions(emit, view, parseMentions(postText(view), view.authorId));
  }

  async edit(userId: string, postId: string, input: EditPost): Promise<PostView> {
    if (input.content !== undefined) this.checkLength(input.content);
    await this.ownPost(userId, postId);
    if (input.images || input.videos)
      await checkPostMedia(this.ctx.media, userId, input.images ?? [], input.videos ?? []);
    await withOutbox(this.ctx.db, this.ctx.schema, async (trx, emit) => {
      const before = await this.lockOwn(trx, userId, postId);
      const [old] = await this.ctx.posts.views([postId], trx);
      const status: PostStatus = input.status ?? before.status;
      // A share counts once from publication to deletion; a draft share would count for nothing.
      if (before.shared_post_id && status === "draft")
        throw invalidParam("status: a share cannot be a draft");
      await this.ctx.posts.update(trx, postId, {
        ...(input.title !== undefined ? { title: input.title } : {}),
        ...(input.content !== undefined ? { content: input.content } : {}),
        ...(input.visibility !== undefined ? { visibility: input.visibility } : {}),
        ...(input.language !== undefined ? { language: input.language } : {}),
        ...(input.images !== undefined ? { images: input.images } : {}),
        ...(input.videos !== undefined ? { videos: input.videos } : {}),
        status,
        at: this.ctx.now(),
      });
      const [now] = await this.ctx.posts.views([postId], trx);
      if (before.status === "published" && status === "draft") {
        emit(contentEvent("post.deleted", { post_id: postId, author_id: userId, deleted_at: now.updatedAt }));
        return;
      }
      if (status !== "published") return;
      emit(contentEvent(before.status === "published" ? "post.updated" : "post.published", snapshotOf(now)));
      // Only people named for the first time are told (an edit does not notify twice).
      const already =
        before.status === "published" ? new Set(parseMentions(postText(old))) : new Set<string>();
      this.emitMentions(
        emit,
        now,
        parseMentions(postText(now), userId).filter((u) => !already.has(u)),
      );
    });
    return this.mustView(postId);
  }

  /** The author deletes: the row stays (status deleted) so the id keeps answering 404. */
  async delete(userId: string, postId: string): Promise<void> {
    await this.ownPost(userId, postId);
    await withOutbox(this.ctx.db, this.ctx.schema, async (trx, emit) => {
      const before = await this.lockOwn(trx, userId, postId);
      const at = this.ctx.now();
      await this.ctx.posts.update(trx, postId, { status: "deleted", deleted_at: at, at });
      // The counts consumer takes the share off the original's share_count on post.deleted.
      if (before.shared_post_id) await this.ctx.posts.forgetShare(trx, postId);
      if (before.status === "published")
        emit(contentEvent("post.deleted", { post_id: postId, author_id: userId, deleted_at: at }));
    });
  }

  async getPost(postId: string, viewerId: string | null): Promise<PostView | null> {
    if (!isUuid(postId)) return null;
    const [view] = await this.ctx.posts.views([postId]);
    if (!view || !(await this.ctx.access.canSee(view, viewerId))) return null;
    return view;
  }

  /** The posts among `ids` the viewer may see, by id (one read; graph asked once per author). */
  async visibleMany(ids: string[], viewerId: string): Promise<Map<string, PostView>> {
    const views = await this.ctx.posts.views(ids.filter(isUuid));
    const asked = new Map<string, Promise<boolean>>();
    const followsAuthor = (authorId: string) => {
      let answer = asked.get(authorId);
      if (!answer) {
        answer = this.ctx.access.follows(viewerId, authorId);
        asked.set(authorId, answer);
      }
      return answer;
    };
    const out = new Map<string, PostView>();
    for (const v of views) {
      const followersOnly = v.status === "published" && v.visibility === "followers";
      const seen = followersOnly
        ? await followsAuthor(v.authorId)
        : await this.ctx.access.canSee(v, viewerId);
      if (seen) out.set(v.id, v);
    }
    return out;
  }

  /** A post the viewer may see, or 404 (whether it exists is not told). */
  async visible(postId: string, viewerId: string): Promise<PostView> {
    const view = await this.getPost(postId, viewerId);
    if (!view) throw notFound("No such post");
    return view;
  }

  /** A published post the viewer may see, or 404: what comments, likes, shares and bookmarks hang off. */
  async published(postId: string, viewerId: string): Promise<PostView> {
    const view = await this.visible(postId, viewerId);
    if (view.status !== "published") throw notFound("No such post");
    return view;
  }

  async getPosts(postIds: string[]): Promise<PostView[]> {
    const ids = [...new Set(postIds.filter(isUuid))];
    const byId = new Map((await this.ctx.posts.views(ids)).map((v) => [v.id, v]));
    return postIds.flatMap((id) => {
      const v = byId.get(id);
      return v && v.status === "published" ? [v] : [];
    });
  }

  async getUserPosts(authorId: string, page: { from?: string | null; limit: number }): Promise<PostPage> {
    return this.userPosts(authorId, null, page);
  }

  /** An author's published posts as `viewerId` may see them (null: a service, sees all). */
  async userPosts(
    authorId: string,
    viewerId: string | null,
    page: { from?: string | null; limit: number },
  ): Promise<PostPage> {
    const includeFollowers = viewerId === null || (await this.ctx.access.follows(viewerId, authorId));
    const rows = await this.ctx.posts.authorPage(authorId, {
      after: decodeCursor(page.from),
      limit: page.limit + 1,
      includeFollowers,
    });
    const { items, next } = pageFrom(rows, page.limit, (r) => ({ at: Number(r.created_at), id: r.id }));
    const views = new Map((await this.ctx.posts.views(items.map((r) => r.id))).map((v) => [v.id, v]));
    return { items: items.flatMap((r) => views.get(r.id) ?? []), next };
  }

  private checkLength(content: string) {
    if (content.length > this.ctx.settings.maxPostChars)
      throw new MatrixError(
        400,
        "M_TOO_LARGE",
        `content: at most ${this.ctx.settings.maxPostChars} characters`,
      );
  }

  /** 404 for what the caller cannot see, 403 for a post they see but did not write. */
  private async ownPost(userId: string, postId: string): Promise<PostRow> {
    const row = isUuid(postId) ? await this.ctx.posts.row(this.ctx.db, postId) : null;
    if (!row || row.status === "deleted") throw notFound("No such post");
    if (row.author_id !== userId) {
      if (await this.ctx.access.canSee(rowView(row), userId))
        throw forbidden("Only the author may change a post");
      throw notFound("No such post");
    }
    return row;
  }

  private async lockOwn(trx: Transaction<ContentTables>, userId: string, postId: string): Promise<PostRow> {
    const row = await this.ctx.posts.row(trx, postId, true);
    // Deleted between the check and the lock: the same answer as before it.
    if (!row || row.status === "deleted" || row.author_id !== userId) throw notFound("No such post");
    return row;
  }

  private emitMentions(emit: Emit, post: PostView, users: string[]) {
    for (const u of users)
      emit(
        contentEvent("user.mentioned", {
          post_id: post.id,
          comment_id: null,
          author_id: post.authorId,
          mentioned_user_id: u,
          created_at: post.updatedAt,
        }),
      );
  }

  private async mustView(id: string): Promise<PostView> {
    const [v] = await this.ctx.posts.views([id]);
    if (!v) throw notFound("No such post");
    return v;
  }
}

const rowView = (r: PostRow) => ({ status: r.status, visibility: r.visibility, authorId: r.author_id });

const postText = (p: PostView) => `${p.title ?? ""}\n${p.content}`;
