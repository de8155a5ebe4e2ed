import { randomUUID } from "node:crypto";
import { forbidden, invalidParam, notFound } from "../../platform/errors.ts";
import { withOutbox } from "../../platform/outbox/writer.ts";
import type { ReelInfo } from "../client.ts";
import type { VideoContext } from "./context.ts";
import { VIDEO_AGGREGATE } from "./events.ts";
import type { ReelRow } from "./reels.repository.ts";
import type { VideoService } from "./service.ts";
import { decodeCursor, encodeCursor, isUuid, toReelInfo } from "./wire.ts";

export type NewReel = { videoId: string; caption: string | null } | { mxc: string; caption: string | null };

/** Reels: a short video with a caption, in its owner's newest-first list. */
export class ReelService {
  constructor(
    private readonly ctx: VideoContext,
    private readonly videos: VideoService,
  ) {}

  /** From the caller's video, or from an upload (the video is made and queued in the same transaction). */
  async create(userId: string, input: NewReel): Promise<ReelInfo> {
    let videoId: string | null = null;
    let uploadId: string | null = null;
    if ("videoId" in input) {
      const video = await this.videos.get(input.videoId);
      if (!video) throw notFound("Video not found");
      if (video.ownerId !== userId) throw forbidden("You can only make reels of your own videos");
      videoId = video.id;
    } else {
      uploadId = await this.videos.sourceUpload(userId, input.mxc);
    }
    const reelId = await withOutbox(this.ctx.db, this.ctx.schema, async (trx, emit) => {
      const now = Date.now();
      const vid =
        videoId ??
        (await this.videos.insert(trx, { ownerId: userId, uploadId: uploadId!, title: null }, now));
      const id = randomUUID();
      await this.ctx.reels.create(trx, {
        id,
        video_id: vid,
        owner_id: userId,
        caption: input.caption,
        created_at: now,
      });
      emit({
        aggregateType: VIDEO_AGGREGATE,
        aggregateId: vid,
        eventType: "reel.created",
        payload: { reel_id: id, video_id: vid, owner_id: userId },
      });
      return id;
    });
    if (uploadId) this.videos.queued();
    const reel = await this.get(reelId);
    if (!reel) throw notFound("Reel not found");
    return reel;
  }

  async get(id: string): Promise<ReelInfo | null> {
    if (!isUuid(id)) return null;
    const row = await this.ctx.reels.get(id);
    if (!row) return null;
    const video = await this.videos.get(row.video_id);
    return video ? toReelInfo(row, video) : null;
  }

  /** One page of a user's reels, newest first; `next` is the cursor of the page after it. */
  async list(
    ownerId: string,
    from: string | null,
    limit: number,
  ): Promise<{ reels: ReelInfo[]; next: string | null }> {
    const after = from === null ? null : decodeCursor(from);
    if (from !== null && !after) throw invalidParam("from: not a cursor this server gave out");
    const rows = await this.ctx.reels.byOwner(ownerId, limit + 1, after);
    const page = rows.slice(0, limit);
    const videos = await this.videos.getMany([...new Set(page.map((r) => r.video_id))]);
    const reels = page.flatMap((r: ReelRow) => {
      const v = videos.get(r.video_id);
      return v ? [toReelInfo(r, v)] : [];
    });
    const last = page[page.length - 1];
    const next =
      rows.length > limit && last ? encodeCursor({ createdAt: Number(last.created_at), id: last.id }) : null;
    return { reels, next };
  }

  /** The owner deletes a reel; the video stays (it may be shown elsewhere, or reused). */
  async delete(userId: string, id: string): Promise<void> {
    const reel = await this.get(id);
    if (!reel) throw notFound("Reel not found");
    if (reel.ownerId !== userId) throw forbidden("Only the owner can delete a reel");
    await withOutbox(this.ctx.db, this.ctx.schema, async (trx, emit) => {
      const gone = await this.ctx.reels.delete(trx, id);
      if (!gone) return;
      emit({
        aggregateType: VIDEO_AGGREGATE,
        aggregateId: gone.video_id,
        eventType: "reel.deleted",
        payload: { reel_id: gone.id, owner_id: gone.owner_id },
      });
    });
  }
}
