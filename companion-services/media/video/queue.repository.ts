import { randomUUID } from "node:crypto";
import type { Kysely, Selectable, Transaction } from "kysely";
import type { MediaTables } from "../tables.ts";

export type JobRow = Selectable<MediaTables["reel_transcode_jobs"]>;
type Db = Kysely<MediaTables> | Transaction<MediaTables>;

/** The one job a video has: every rendition comes out of one ffmpeg run. */
export const HLS_JOB = "hls";

/**
 * The durable transcode queue on `reel_transcode_jobs`. A claim takes one due job with
 * FOR UPDATE SKIP LOCKED (concurrent workers never take the same row) and leases it until
 * `locked_until`; every later write is fenced on `locked_by`, so a worker that lost its lease
 * cannot overwrite the new owner's outcome.
 */
export class QueueRepository {
  constructor(private readonly db: Kysely<MediaTables>) {}

  async enqueue(trx: Db, videoId: string, now: number, reelId: string | null = null): Promise<string> {
    const id = randomUUID();
    await trx
      .insertInto("reel_transcode_jobs")
      .values({
        id,
        video_id: videoId,
        reel_id: reelId,
        profile: HLS_JOB,
        status: "queued",
        attempts: 0,
        run_after: now,
        locked_until: null,
        locked_by: null,
        last_error: null,
        created_at: now,
        updated_at: now,
      })
      .execute();
    return id;
  }

  /**
   * Leases the oldest due job: a queued one whose backoff has passed, or a running one whose lease
   * expired (its worker crashed or hung). Counts the attempt.
   */
  async claim(workerId: string, now: number, leaseMs: number): Promise<JobRow | undefined> {
    return this.db.transaction().execute(async (trx) => {
      const due = await trx
        .selectFrom("reel_transcode_jobs")
        .select("id")
        .where((eb) =>
          eb.or([
            eb.and([eb("status", "=", "queued"), eb("run_after", "<=", now)]),
            eb.and([eb("status", "=", "running"), eb("locked_until", "<", now)]),
          ]),
        )
        .orderBy("run_after")
        .limit(1)
        .forUpdate()
        .skipLocked()
        .executeTakeFirst();
      if (!due) return undefined;
      return trx
        .updateTable("reel_transcode_jobs")
        .set((eb) => ({
          status: "running",
          attempts: eb("attempts", "+", 1),
          locked_by: workerId,
          locked_until: now + leaseMs,
          updated_at: now,
        }))
        .where("id", "=", due.id)
        .returningAll()
        .executeTakeFirstOrThrow();
    });
  }

  /** Extends the lease while the work goes on; false when another worker holds the job now. */
  async heartbeat(jobId: string, workerId: string, now: number, leaseMs: number): Promise<boolean> {
    const r = await this.db
      .updateTable("reel_transcode_jobs")
      .set({ locked_until: now + leaseMs, updated_at: now })
      .where("id", "=", jobId)
      .where("locked_by", "=", workerId)
      .where("status", "=", "running")
      .executeTakeFirst();
    return Number(r.numUpdatedRows) === 1;
  }

  /** Ends the lease with `status`; false (nothing written) when the lease was lost. */
  async finish(
    trx: Db,
    job: JobRow,
    outcome: { status: "done" | "failed" | "dead"; error?: string | null },
    now: number,
  ): Promise<boolean> {
    const r = await trx
      .updateTable("reel_transcode_jobs")
      .set({
        status: outcome.status,
        last_error: outcome.error?.slice(0, 2_000) ?? null,
        locked_by: null,
        locked_until: null,
        updated_at: now,
      })
      .where("id", "=", job.id)
      .where("locked_by", "=", job.locked_by)
      .executeTakeFirst();
    return Number(r.numUpdatedRows) === 1;
  }

  /** Puts the job back to wait for `runAfter` (a retry after a failure). */
  async retryLater(trx: Db, job: JobRow, error: string, runAfter: number, now: number): Promise<boolean> {
    const r = await trx
      .updateTable("reel_transcode_jobs")
      .set({
        status: "queued",
        run_after: runAfter,
        last_error: error.slice(0, 2_000),
        locked_by: null,
        locked_until: null,
        updated_at: now,
      })
      .where("id", "=", job.id)
      .where("locked_by", "=", job.locked_by)
      .executeTakeFirst();
    return Number(r.numUpdatedRows) === 1;
  }

  /** Hands a job back untouched (the worker is stopping): this attempt does not count. */
  async release(job: JobRow, now: number): Promise<void> {
    await this.db
      .updateTable("reel_transcode_jobs")
      .set((eb) => ({
        status: "queued",
        attempts: eb("attempts", "-", 1),
        run_after: now,
        locked_by: null,
        locked_until: null,
        updated_at: now,
      }))
      .where("id", "=", job.id)
      .where("locked_by", "=", job.locked_by)
      .where("status", "=", "running")
      .execute();
  }

  async byVideo(videoId: string): Promise<JobRow[]> {
    return this.db
      .selectFrom("reel_transcode_jobs")
      .selectAll()
      .where("video_id", "=", videoId)
      .orderBy("created_at")
      .execute();
  }
}
