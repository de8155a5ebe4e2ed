import type { ModerationDb } from "./moderation.tables.ts";

export type ReportKind = "event" | "room" | "user";

export type NewReport = {
  kind: ReportKind;
  reporter: string;
  roomId?: string;
  eventId?: string;
  targetUserId?: string;
  reason?: string;
  score?: number;
};

export type Report = {
  id: number;
  kind: ReportKind;
  reporter: string;
  roomId: string | null;
  eventId: string | null;
  targetUserId: string | null;
  reason: string | null;
  score: number | null;
  receivedAt: number;
};

/** Reports of events, rooms and users, for server admins (the admin API lists them). */
export class ReportsRepository {
  constructor(private readonly db: ModerationDb) {}

  async insert(r: NewReport, at: number): Promise<number> {
    const row = await this.db
      .insertInto("reports")
      .values({
        kind: r.kind,
        reporter: r.reporter,
        room_id: r.roomId ?? null,
        event_id: r.eventId ?? null,
        target_user_id: r.targetUserId ?? null,
        reason: r.reason ?? null,
        score: r.score ?? null,
        received_at: at,
      })
      .returning("id")
      .executeTakeFirstOrThrow();
    return Number(row.id);
  }

  /** Newest first; `before` is the id to page below, `kind` narrows to one kind. */
  async list(opts: { limit: number; before?: number; kind?: ReportKind }): Promise<Report[]> {
    let q = this.db.selectFrom("reports").selectAll().orderBy("id", "desc").limit(opts.limit);
    if (opts.before !== undefined) q = q.where("id", "<", opts.before);
    if (opts.kind !== undefined) q = q.where("kind", "=", opts.kind);
    const rows = await q.execute();
    return rows.map((r) => ({
      id: Number(r.id),
      kind: r.kind,
      reporter: r.reporter,
      roomId: r.room_id,
      eventId: r.event_id,
      targetUserId: r.target_user_id,
      reason: r.reason,
      score: r.score === null ? null : Number(r.score),
      receivedAt: Number(r.received_at),
    }));
  }
}
