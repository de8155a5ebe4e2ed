import type { Kysely, Selectable, Transaction } from "kysely";
import type { MediaTables } from "../tables.ts";

type Db = Kysely<MediaTables> | Transaction<MediaTables>;
export type VariantRow = Selectable<MediaTables["reel_variants"]>;

/** A video with its pipeline state and engagement, as one row. */
export type VideoRow = Selectable<MediaTables["videos"]> & {
  stage: string | null;
  error: string | null;
  views: number | null;
  watch_ms: number | null;
};

/** videos, video_pipeline_state, video_engagement, video_views and reel_variants. */
export class VideosRepository {
  constructor(private readonly db: Kysely<MediaTables>) {}

  /** The video, its state row and its (zero) engagement row. */
  async create(
    trx: Db,
    v: { id: string; uploadId: string; ownerId: string; title: string | null },
    now: number,
  ): Promise<void> {
    await trx
      .insertInto("videos")
      .values({
        id: v.id,
        upload_id: v.uploadId,
        owner_id: v.ownerId,
        title: v.title,
        duration_ms: null,
        codec: null,
        created_at: now,
        poster_mxc: null,
      })
      .execute();
    await trx
      .insertInto("video_pipeline_state")
      .values({ video_id: v.id, stage: "queued", error: null, updated_at: now })
      .execute();
    await trx.insertInto("video_engagement").values({ video_id: v.id, views: 0, watch_ms: 0 }).execute();
  }

  async get(db: Db, id: string, opts: { lock?: boolean } = {}): Promise<VideoRow | undefined> {
    let q = this.select(db).where("v.id", "=", id);
    if (opts.lock) q = q.forUpdate("v");
    return q.executeTakeFirst();
  }

  /** The owner's existing video of an upload, if any (a second registration returns it). */
  async idOfUpload(db: Db, uploadId: string, ownerId: string): Promise<string | undefined> {
    const r = await db
      .selectFrom("videos")
      .select("id")
      .where("upload_id", "=", uploadId)
      .where("owner_id", "=", ownerId)
      .orderBy("created_at")
      .limit(1)
      .executeTakeFirst();
    return r?.id;
  }

  async getMany(ids: string[]): Promise<VideoRow[]> {
    if (ids.length === 0) return [];
    return this.select(this.db).where("v.id", "in", ids).execute();
  }

  private select(db: Db) {
    return db
      .selectFrom("videos as v")
      .leftJoin("video_pipeline_state as s", "s.video_id", "v.id")
      .leftJoin("video_engagement as e", "e.video_id", "v.id")
      .select([
        "v.id",
        "v.upload_id",
        "v.owner_id",
        "v.title",
        "v.duration_ms",
        "v.codec",
        "v.created_at",
        "v.poster_mxc",
        "s.stage",
        "s.error",
        "e.views",
        "e.watch_ms",
      ]);
  }

  async variants(videoIds: string[]): Promise<VariantRow[]> {
    if (videoIds.length === 0) return [];
    return this.db
      .selectFrom("reel_variants")
      .selectAll()
      .where("video_id", "in", videoIds)
      .orderBy("video_id")
      .orderBy("height")
      .orderBy("width")
      .execute();
  }

  async setStage(db: Db, id: string, stage: string, error: string | null, now: number): Promise<void> {
    await db
      .updateTable("video_pipeline_state")
      .set({ stage, error, updated_at: now })
      .where("video_id", "=", id)
      .execute();
  }

  /** What the probe found, the poster, and the renditions replacing any earlier ones. */
  async saveOutput(
    trx: Db,
    id: string,
    out: { durationMs: number; codec: string; posterMxc: string; variants: Omit<VariantRow, "video_id">[] },
  ): Promise<void> {
    await trx
      .updateTable("videos")
      .set({ duration_ms: out.durationMs, codec: out.codec, poster_mxc: out.posterMxc })
      .where("id", "=", id)
      .execute();
    await trx.deleteFrom("reel_variants").where("video_id", "=", id).execute();
    if (out.variants.length > 0) {
      await trx
        .insertInto("reel_variants")
        .values(out.variants.map((v) => ({ ...v, video_id: id })))
        .execute();
    }
  }

  /** Deletes the video; its state, engagement, views, variants, jobs and reels go with it. */
  async delete(trx: Db, id: string): Promise<void> {
    await trx.deleteFrom("videos").where("id", "=", id).execute();
  }

  /**
   * Counts a view once per view_id: true when this call counted it. The engagement row is bumped
   * in the same statement's transaction, so a retry of the same view changes nothing.
   */
  async recordView(
    trx: Db,
    v: { viewId: string; videoId: string; watchMs: number },
    now: number,
  ): Promise<boolean> {
    const inserted = await trx
      .insertInto("video_views")
      .values({ view_id: v.viewId, video_id: v.videoId, watch_ms: v.watchMs, created_at: now })
      .onConflict((oc) => oc.column("view_id").doNothing())
      .returning("view_id")
      .executeTakeFirst();
    if (!inserted) return false;
    await trx
      .updateTable("video_engagement")
      .set((eb) => ({ views: eb("views", "+", 1), watch_ms: eb("watch_ms", "+", v.watchMs) }))
      .where("video_id", "=", v.videoId)
      .execute();
    return true;
  }
}
