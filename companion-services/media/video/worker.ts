import { randomUUID } from "node:crypto";
import { hostname } from "node:os";
import type { VideoContext } from "./context.ts";
import { backoffMs, failJob, retryJob } from "./outcomes.ts";
import { type PipelineSettings, runJob } from "./pipeline.ts";
import { PermanentJobError } from "./probe.ts";
import type { JobRow } from "./queue.repository.ts";
import { videoMetrics } from "./video.metrics.ts";

export type WorkerSettings = PipelineSettings & {
  workers: number;
  maxAttempts: number;
  visibilityTimeoutMs: number;
  pollMs: number;
  retryBaseMs: number;
  stopGraceMs: number;
};

/**
 * `workers` loops, each claiming one job at a time from the durable queue. A job's lease is
 * renewed while it runs; an error of any kind ends in a database outcome (retry with backoff,
 * failed, dead), never in a crashed loop. `stop()` stops claiming, gives running jobs
 * `stopGraceMs` to finish, then kills their ffmpeg and hands the jobs back to the queue.
 */
export class TranscodeWorkers {
  private stopping = false;
  private readonly loops: Promise<void>[] = [];
  private readonly running = new Map<string, AbortController>();
  private readonly wakers = new Set<() => void>();
  private readonly id = `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;

  constructor(
    private readonly ctx: VideoContext,
    private readonly settings: WorkerSettings,
  ) {}

  start(): void {
    this.stopping = false;
    for (let i = this.loops.length; i < this.settings.workers; i++)
      this.loops.push(this.loop(`${this.id}/${i}`));
  }

  /** Makes idle workers look for a job now (a job was just queued in this process). */
  poke(): void {
    for (const wake of [...this.wakers]) wake();
  }

  async stop(): Promise<void> {
    this.stopping = true;
    this.poke();
    const all = Promise.all(this.loops);
    const graceful = await Promise.race([
      all.then(() => true),
      new Promise<false>((r) => setTimeout(() => r(false), this.settings.stopGraceMs).unref()),
    ]);
    if (!graceful) for (const c of this.running.values()) c.abort();
    await all;
    this.loops.length = 0;
  }

  private async loop(workerId: string): Promise<void> {
    while (!this.stopping) {
      let job: JobRow | undefined;
      try {
        job = await this.ctx.queue.claim(workerId, Date.now(), this.settings.visibilityTimeoutMs);
      } catch (err) {
        this.ctx.logger.error({ err, workerId }, "video: claiming a transcode job failed");
      }
      if (!job) {
        await this.idle();
        continue;
      }
      await this.handle(job);
    }
  }

  private idle(): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.wakers.delete(done);
        resolve();
      };
      const timer = setTimeout(done, this.settings.pollMs);
      this.wakers.add(done);
    });
  }

  private async handle(job: JobRow): Promise<void> {
    const log = this.ctx.logger.child({ jobId: job.id, videoId: job.video_id, attempt: job.attempts });
    const { maxAttempts } = this.settings;
    if (job.attempts > maxAttempts) {
      // Its lease ran out on every attempt: the workers died or hung on it each time.
      const error = `gave up after ${maxAttempts} attempts: ${job.last_error ?? "the worker was lost each time"}`;
      await this.outcome(log, () => failJob(this.ctx, job, "dead", error), "dead");
      return;
    }
    const abort = new AbortController();
    this.running.set(job.id, abort);
    videoMetrics.running.inc();
    const lease = this.settings.visibilityTimeoutMs;
    const beat = setInterval(
      () => {
        this.ctx.queue.heartbeat(job.id, job.locked_by ?? "", Date.now(), lease).then(
          (held) => {
            if (!held) {
              log.warn("video: lost a transcode job's lease; stopping it");
              abort.abort();
            }
          },
          (err: unknown) => log.warn({ err }, "video: renewing a transcode job's lease failed"),
        );
      },
      Math.max(50, Math.floor(lease / 3)),
    );
    try {
      log.info("video: transcode job started");
      const result = await runJob(this.ctx, this.settings, job, abort.signal);
      videoMetrics.jobs.inc({ outcome: result });
      log.info({ result }, "video: transcode job finished");
    } catch (err) {
      await this.onError(log, job, err, abort.signal);
    } finally {
      clearInterval(beat);
      this.running.delete(job.id);
      videoMetrics.running.dec();
    }
  }

  private async onError(log: VideoContext["logger"], job: JobRow, err: unknown, signal: AbortSignal) {
    const message = err instanceof Error ? err.message : String(err);
    if (signal.aborted) {
      // Stopping, or the lease went elsewhere: hand back what is still ours, count nothing.
      const release = async () => {
        await this.ctx.queue.release(job, Date.now());
        if (job.video_id)
          await this.ctx.videos.setStage(this.ctx.db, job.video_id, "queued", null, Date.now());
        return true;
      };
      await this.outcome(log, release, "released");
      return;
    }
    if (err instanceof PermanentJobError) {
      log.info({ error: message }, "video: transcode job failed");
      await this.outcome(log, () => failJob(this.ctx, job, "failed", message), "failed");
      return;
    }
    if (job.attempts >= this.settings.maxAttempts) {
      log.warn({ err }, "video: transcode job is dead");
      const error = `gave up after ${job.attempts} attempts: ${message}`;
      await this.outcome(log, () => failJob(this.ctx, job, "dead", error), "dead");
      return;
    }
    const delay = backoffMs(job.attempts, this.settings.retryBaseMs);
    log.warn({ err, delayMs: delay }, "video: transcode attempt failed; retrying");
    await this.outcome(log, () => retryJob(this.ctx, job, message, delay), "retried");
  }

  /** Writes an outcome; if even that fails, the lease runs out and another worker retries. */
  private async outcome(log: VideoContext["logger"], write: () => Promise<boolean>, outcome: string) {
    try {
      const held = await write();
      videoMetrics.jobs.inc({ outcome: held ? outcome : "lost" });
    } catch (err) {
      log.error({ err }, "video: recording a transcode job's outcome failed");
    }
  }
}
