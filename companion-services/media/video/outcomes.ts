import { withOutbox } from "../../platform/outbox/writer.ts";
import type { VideoContext } from "./context.ts";
import { VIDEO_AGGREGATE } from "./events.ts";
import type { JobRow } from "./queue.repository.ts";

/**
 * The job ends without a video: stage `failed` with the error, the job `failed` (permanent) or
 * `dead` (out of attempts), and `video.failed`, in one transaction. False when the lease was lost.
 */
export async function failJob(
  ctx: VideoContext,
  job: JobRow,
  status: "failed" | "dead",
  error: string,
): Promise<boolean> {
  const videoId = job.video_id;
  return withOutbox(ctx.db, ctx.schema, async (trx, emit) => {
    const now = Date.now();
    if (!(await ctx.queue.finish(trx, job, { status, error }, now))) return false;
    const video = videoId ? await ctx.videos.get(trx, videoId) : undefined;
    if (!videoId || !video) return true;
    await ctx.videos.setStage(trx, videoId, "failed", error, now);
    emit({
      aggregateType: VIDEO_AGGREGATE,
      aggregateId: videoId,
      eventType: "video.failed",
      payload: { video_id: videoId, owner_id: video.owner_id, error },
    });
    return true;
  });
}

/** The attempt failed but more are allowed: the job waits `delayMs`, the stage says why. */
export async function retryJob(
  ctx: VideoContext,
  job: JobRow,
  error: string,
  delayMs: number,
): Promise<boolean> {
  return ctx.db.transaction().execute(async (trx) => {
    const now = Date.now();
    if (!(await ctx.queue.retryLater(trx, job, error, now + delayMs, now))) return false;
    if (job.video_id) {
      const note = `attempt ${job.attempts} failed, retrying: ${error}`.slice(0, 2_000);
      await ctx.videos.setStage(trx, job.video_id, "queued", note, now);
    }
    return true;
  });
}

/** Exponential backoff with jitter: base·2^(attempt-1), between half and all of it, capped. */
export function backoffMs(attempt: number, baseMs: number, capMs = 10 * 60_000): number {
  const full = Math.min(capMs, baseMs * 2 ** Math.max(0, attempt - 1));
  return Math.round(full / 2 + Math.random() * (full / 2));
}
