import type { Kysely, Transaction } from "kysely";
import type { PostStatus, PostView, PostVisibility } from "./client.ts";
import type { Cursor } from "./cursor.ts";
import type { ContentTables } from "./tables.ts";

type Db = Kysely<ContentTables> | Transaction<ContentTables>;

export type PostRow = ContentTables["posts"];

export type NewPost = {
  id: string;
  authorId: string;
  title: string | null;
  content: string;
  status: PostStatus;
  visibility: PostVisibility;
  language: string | null;
  images: string[];
  videos: string[];
  sharedPostId: string | null;
  at: number;
};

export type PostChanges = Partial<
  Pick<PostRow, "title" | "content" | "status" | "visibility" | "language" | "deleted_at">
> & { images?: string[]; videos?: string[]; at: number };

/** posts with their images, videos and counts (post_metadata). */
export class PostsRepository {
  constructor(private readonly db: Kysely<ContentTables>) {}

  async insert(trx: Db, p: NewPost): Promise<void> {
    await trx
      .insertInto("posts")
      .values({
        id: p.id,
        author_id: p.authorId,
        title: p.title,
        content: p.content,
        status: p.status,
        visibility: p.visibility,
        language: p.language,
        shared_post_id: p.sharedPostId,
        created_at: p.at,
        updated_at: p.at,
        deleted_at: null,
      })
      .execute();
    await trx
      .insertInto("post_metadata")
      .values({ post_id: p.id, like_count: 0, comment_count: 0, share_count: 0 })
      .execute();
    await this.replaceMedia(trx, p.id, p.images, p.videos);
  }

  async update(trx: Db, id: string, c: PostChanges): Promise<void> {
    const { images, videos, at, ...columns } = c;
    await trx
      .updateTable("posts")
      .set({ ...columns, updated_at: at })
      .where("id", "=", id)
      .execute();
    if (images) {
      await trx.deleteFrom("post_images").where("post_id", "=", id).execute();
      await this.insertImages(trx, id, images);
    }
    if (videos) {
      await trx.deleteFrom("post_videos").where("post_id", "=", id).execute();
      await this.insertVideos(trx, id, videos);
    }
  }

  private async replaceMedia(trx: Db, id: string, images: string[], videos: string[]) {
    await this.insertImages(trx, id, images);
    await this.insertVideos(trx, id, videos);
  }

  private async insertImages(trx: Db, id: string, images: string[]) {
    if (images.length === 0) return;
    await trx
      .insertInto("post_images")
      .values(images.map((media_uri, position) => ({ post_id: id, position, media_uri })))
      .execute();
  }

  private async insertVideos(trx: Db, id: string, videos: string[]) {
    if (videos.length === 0) return;
    await trx
      .insertInto("post_videos")
      .values(videos.map((video_id, position) => ({ post_id: id, position, video_id })))
      .execute();
  }

  /** A deleted share no longer counts as its author's share: they may share the post again. */
  async forgetShare(trx: Db, shareId: string): Promise<void> {
    await trx.deleteFrom("post_shares").where("id", "=", shareId).execute();
  }

  /** The row, locked for the caller's transaction when `forUpdate`. */
  async row(db: Db, id: string, forUpdate = false): Promise<PostRow | null> {
    let q = db.selectFrom("posts").selectAll().where("id", "=", id);
    if (forUpdate) q = q.forUpdate();
    return (await q.executeTakeFirst()) ?? null;
  }

  /** Posts by id, as views (any status: callers filter). */
  async views(ids: string[], db: Db = this.db): Promise<PostView[]> {
    if (ids.length === 0) return [];
    const rows = await db
      .selectFrom("posts")
      .leftJoin("post_metadata", "post_metadata.post_id", "posts.id")
      .selectAll("posts")
      .select(["post_metadata.like_count", "post_metadata.comment_count", "post_metadata.share_count"])
      .where("posts.id", "in", ids)
      .execute();
    const [images, videos] = await Promise.all([
      db
        .selectFrom("post_images")
        .select(["post_id", "media_uri"])
        .where("post_id", "in", ids)
        .orderBy("position")
        .execute(),
      db
        .selectFrom("post_videos")
        .select(["post_id", "video_id"])
        .where("post_id", "in", ids)
        .orderBy("position")
        .execute(),
    ]);
    const imagesOf = group(
      images,
      (r) => r.post_id,
      (r) => r.media_uri,
    );
    const videosOf = group(
      videos,
      (r) => r.post_id,
      (r) => r.video_id,
    );
    return rows.map((r) => ({
      id: r.id,
      authorId: r.author_id,
      title: r.title,
      content: r.content,
      status: r.status,
      visibility: r.visibility,
      language: r.language,
      images: imagesOf.get(r.id) ?? [],
      videos: videosOf.get(r.id) ?? [],
      sharedPostId: r.shared_post_id,
      likeCount: Math.max(0, Number(r.like_count ?? 0)),
      commentCount: Math.max(0, Number(r.comment_count ?? 0)),
      shareCount: Math.max(0, Number(r.share_count ?? 0)),
      createdAt: Number(r.created_at),
      updatedAt: Number(r.updated_at),
    }));
  }

  /** An author's published posts, newest first; followers-only ones only when asked. */
  async authorPage(
    authorId: string,
    opts: { after: Cursor | null; limit: number; includeFollowers: boolean },
  ): Promise<{ id: string; created_at: number }[]> {
    let q = this.db
      .selectFrom("posts")
      .select(["id", "created_at"])
      .where("author_id", "=", authorId)
      .where("status", "=", "published");
    if (!opts.includeFollowers) q = q.where("visibility", "=", "public");
    const after = opts.after;
    if (after)
      q = q.where((eb) =>
        eb.or([
          eb("created_at", "<", after.at),
          eb.and([eb("created_at", "=", after.at), eb("id", "<", after.id)]),
        ]),
      );
    return q.orderBy("created_at", "desc").orderBy("id", "desc").limit(opts.limit).execute();
  }
}

function group<R, V>(rows: R[], key: (r: R) => string, value: (r: R) => V): Map<string, V[]> {
  const out = new Map<string, V[]>();
  for (const r of rows) {
    const k = key(r);
    const list = out.get(k) ?? [];
    list.push(value(r));
    out.set(k, list);
  }
  return out;
}
