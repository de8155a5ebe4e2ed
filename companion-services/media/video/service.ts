import { randomUUID } from "node:crypto";
import type { Transaction } from "kysely";
import { forbidden, invalidParam, notFound } from "../../platform/errors.ts";
import { withOutbox } from "../../platform/outbox/writer.ts";
import type { VideoInfo, VideoStage } from "../client.ts";
import { parseMxc } from "../ids.ts";
import type { MediaTables } from "../tables.ts";
import { masterKey, removeRenditions, renditionKey, type VideoContext } from "./context.ts";
import { VIDEO_AGGREGATE } from "./events.ts";
import { PROFILE_NAMES } from "./profiles.ts";
import { PLAYLIST_FILE, SEGMENT_FILE } from "./transcode.ts";
import { isUuid, toVideoInfo } from "./wire.ts";

export type HlsFile = { bytes: Buffer; contentType: string };

/**
 * Videos: create from an upload (and queue its transcode), read, delete, count views, serve the
 * HLS files. Handlers call one of these; the SQL is in the repositories.
 */
export class VideoService {
  constructor(
    private readonly ctx: VideoContext,
    /** Called after a job is queued, so an idle worker in this process starts at once. */
    private readonly onQueued: () => void = () => {},
  ) {}

  /** The caller's own finished upload behind `mxc`, or the Matrix error saying why not. */
  async sourceUpload(userId: string, mxc: string): Promise<string> {
    const parsed = parseMxc(mxc);
    if (!parsed) throw invalidParam("mxc: not an mxc:// URI");
    if (parsed.serverName !== this.ctx.library.serverName) throw notFound("Media not found");
    const info = await this.ctx.library.info(parsed.mediaId);
    if (!info) throw notFound("Media not found");
    if (info.userId !== userId) throw forbidden("You can only make videos of your own uploads");
    if (info.pending || info.bytes === null) throw invalidParam("The upload has not finished");
    return parsed.mediaId;
  }

  /** Inserts the video and queues its job inside the caller's transaction. */
  async insert(
    trx: Transaction<MediaTables>,
    v: { ownerId: string; uploadId: string; title: string | null },
    now: number,
  ): Promise<string> {
    const id = randomUUID();
    await this.ctx.videos.create(trx, { id, uploadId: v.uploadId, ownerId: v.ownerId, title: v.title }, now);
    await this.ctx.queue.enqueue(trx, id, now);
    return id;
  }

  queued(): void {
    this.onQueued();
  }

  async create(
    userId: string,
    mxc: string,
    title: string | null,
  ): Promise<{ videoId: string; stage: VideoStage }> {
    const uploadId = await this.sourceUpload(userId, mxc);
    // One video per upload and owner: registering it again (or after the upload queued it on its
    // own) answers the existing one.
    const existing = await this.ctx.videos.idOfUpload(this.ctx.db, uploadId, userId);
    if (existing) return { videoId: existing, stage: (await this.require(existing)).stage };
    let videoId: string;
    try {
      videoId = await this.ctx.db
        .transaction()
        .execute((trx) => this.insert(trx, { ownerId: userId, uploadId, title }, Date.now()));
    } catch (err) {
      // Lost a race with another registration of the same upload (unique index): answer its video.
      const winner = isUniqueViolation(err)
        ? await this.ctx.videos.idOfUpload(this.ctx.db, uploadId, userId)
        : undefined;
      if (!winner) throw err;
      return { videoId: winner, stage: (await this.require(winner)).stage };
    }
    this.onQueued();
    return { videoId, stage: "queued" };
  }

  async get(id: string): Promise<VideoInfo | null> {
    if (!isUuid(id)) return null;
    const row = await this.ctx.videos.get(this.ctx.db, id);
    if (!row) return null;
    return toVideoInfo(row, await this.ctx.videos.variants([id]), this.ctx.library.serverName);
  }

  async getMany(ids: string[]): Promise<Map<string, VideoInfo>> {
    const rows = await this.ctx.videos.getMany(ids);
    const variants = await this.ctx.videos.variants(ids);
    const out = new Map<string, VideoInfo>();
    for (const row of rows) {
      const own = variants.filter((v) => v.video_id === row.id);
      out.set(row.id, toVideoInfo(row, own, this.ctx.library.serverName));
    }
    return out;
  }

  async require(id: string): Promise<VideoInfo> {
    const v = await this.get(id);
    if (!v) throw notFound("Video not found");
    return v;
  }

  /**
   * The owner deletes a video: its rows (state, engagement, views, variants, job, reels) and its
   * renditions. A job encoding it right now finds it gone when it commits and drops its output.
   */
  async delete(userId: string, id: string): Promise<void> {
    const video = await this.require(id);
    if (video.ownerId !== userId) throw forbidden("Only the owner can delete a video");
    await withOutbox(this.ctx.db, this.ctx.schema, async (trx, emit) => {
      for (const reel of await this.ctx.reels.byVideo(trx, id)) {
        emit({
          aggregateType: VIDEO_AGGREGATE,
          aggregateId: id,
          eventType: "reel.deleted",
          payload: { reel_id: reel.id, owner_id: reel.owner_id },
        });
      }
      await this.ctx.videos.delete(trx, id);
    });
    await removeRenditions(this.ctx.blobs, id);
  }

  /** Counts a view once per `viewId`; returns whether this call counted it and the totals. */
  async recordView(id: string, viewId: string, watchMs: number) {
    await this.require(id);
    const counted = await this.ctx.db
      .transaction()
      .execute((trx) => this.ctx.videos.recordView(trx, { viewId, videoId: id, watchMs }, Date.now()));
    const after = await this.require(id);
    return { counted, views: after.views, watchMs: after.watchMs };
  }

  /** `profile` null: the master playlist. Names outside the HLS grammar never reach storage. */
  async hlsFile(id: string, profile: string | null, file: string): Promise<HlsFile> {
    if (!isUuid(id)) throw notFound("Video not found");
    let key: string;
    if (profile === null) {
      if (file !== "master.m3u8") throw notFound("No such HLS file");
      key = masterKey(id);
    } else {
      if (!PROFILE_NAMES.has(profile)) throw notFound("No such rendition");
      if (file !== PLAYLIST_FILE && !SEGMENT_FILE.test(file)) throw invalidParam("Invalid HLS file name");
      key = renditionKey(id, profile, file);
    }
    if (!(await this.ctx.videos.get(this.ctx.db, id))) throw notFound("Video not found");
    const bytes = await this.ctx.blobs.get(key);
    if (!bytes) throw notFound("No such HLS file");
    return { bytes, contentType: file.endsWith(".ts") ? "video/mp2t" : "application/vnd.apple.mpegurl" };
  }
}

function isUniqueViolation(err: unknown): boolean {
  return (err as { code?: unknown } | null)?.code === "23505";
}
