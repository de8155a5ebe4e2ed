import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { withOutbox } from "../../platform/outbox/writer.ts";
import { masterKey, removeRenditions, renditionKey, type VideoContext } from "./context.ts";
import { VIDEO_AGGREGATE } from "./events.ts";
import { PermanentJobError, probe } from "./probe.ts";
import { planRenditions } from "./profiles.ts";
import type { JobRow } from "./queue.repository.ts";
import { masterPlaylist, PLAYLIST_FILE, transcode } from "./transcode.ts";
import { videoMetrics } from "./video.metrics.ts";

export type PipelineSettings = { ffmpeg: string; ffprobe: string };

/** The job's lease went to another worker while this one worked: its result is dropped. */
export class LostLeaseError extends Error {
  constructor() {
    super("lost the job's lease to another worker");
    this.name = "LostLeaseError";
  }
}

/**
 * One job, start to finish: source bytes to a temp file, ffprobe, the HLS encode and poster, the
 * renditions into the BlobStore, the poster as an upload, then the variants, the `ready` stage,
 * the job's `done` and `video.ready` in one transaction. Throws on failure (the worker decides:
 * retry, fail, dead); the temp folder is always removed.
 */
export async function runJob(
  ctx: VideoContext,
  settings: PipelineSettings,
  job: JobRow,
  signal: AbortSignal,
): Promise<"ready" | "gone"> {
  const videoId = job.video_id;
  const video = videoId ? await ctx.videos.get(ctx.db, videoId) : undefined;
  if (!videoId || !video) {
    await ctx.queue.finish(ctx.db, job, { status: "failed", error: "video deleted" }, Date.now());
    return "gone";
  }
  await ctx.videos.setStage(ctx.db, videoId, "probing", null, Date.now());
  const work = await mkdtemp(path.join(tmpdir(), "nova-video-"));
  try {
    const bytes = await ctx.library.bytes(video.upload_id);
    if (!bytes) throw new PermanentJobError("the source upload is gone (deleted or quarantined)");
    const source = path.join(work, "source");
    await writeFile(source, bytes);
    const probed = await probe(settings.ffprobe, source, signal);
    await ctx.videos.setStage(ctx.db, videoId, "transcoding", null, Date.now());

    const renditions = planRenditions(probed.width, probed.height, probed.audio);
    const started = performance.now();
    const out = await transcode(settings.ffmpeg, source, work, probed, renditions, signal);
    videoMetrics.transcodeSeconds.observe((performance.now() - started) / 1000);

    for (const f of out.files) await ctx.blobs.put(renditionKey(videoId, f.profile, f.name), f.bytes);
    await ctx.blobs.put(masterKey(videoId), Buffer.from(masterPlaylist(renditions)));
    const poster = await ctx.library.storeUpload({
      userId: video.owner_id,
      bytes: out.poster,
      contentType: "image/jpeg",
      uploadName: `${videoId}.jpg`,
    });

    const outcome = await withOutbox(ctx.db, ctx.schema, async (trx, emit) => {
      // Locked, so a concurrent DELETE either ran before (we see no row) or waits for us.
      const current = await ctx.videos.get(trx, videoId, { lock: true });
      if (!current) return "gone" as const;
      const now = Date.now();
      await ctx.videos.saveOutput(trx, videoId, {
        durationMs: probed.durationMs,
        codec: probed.codec,
        posterMxc: poster.mxc,
        variants: renditions.map((r) => ({
          reel_id: null,
          profile: r.name,
          storage_key: renditionKey(videoId, r.name, PLAYLIST_FILE),
          width: r.width,
          height: r.height,
          bitrate: r.bandwidth,
        })),
      });
      await ctx.videos.setStage(trx, videoId, "ready", null, now);
      if (!(await ctx.queue.finish(trx, job, { status: "done" }, now))) throw new LostLeaseError();
      emit({
        aggregateType: VIDEO_AGGREGATE,
        aggregateId: videoId,
        eventType: "video.ready",
        payload: {
          video_id: videoId,
          owner_id: video.owner_id,
          mxc: `mxc://${ctx.library.serverName}/${video.upload_id}`,
          duration_ms: probed.durationMs,
          profiles: renditions.map((r) => r.name),
        },
      });
      return "ready" as const;
    });
    if (outcome === "gone") {
      // Deleted while we encoded: what we just stored belongs to nothing.
      await removeRenditions(ctx.blobs, videoId);
      await ctx.queue.finish(ctx.db, job, { status: "failed", error: "video deleted" }, Date.now());
    }
    return outcome;
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
