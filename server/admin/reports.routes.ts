import type { Kysely } from "kysely";
import { notFound } from "../../companion-services/platform/errors.ts";
import { type AdminRoutes, dirQuery, intQuery } from "../../companion-services/platform/http/admin-routes.ts";
import type { RoomsService } from "../rooms/service.ts";
import type { ModerationTables } from "../routes/moderation.tables.ts";

/** The admin API's reads of event reports (reports of kind "event"; server/routes/reports.ts writes them). */
export class EventReportsRepository {
  constructor(private readonly db: Kysely<ModerationTables>) {}

  private base(f: { roomId?: string; userId?: string }) {
    let q = this.db.selectFrom("reports").where("kind", "=", "event");
    if (f.roomId) q = q.where("room_id", "=", f.roomId);
    if (f.userId) q = q.where("reporter", "=", f.userId);
    return q;
  }

  async list(f: { from: number; limit: number; dir: "f" | "b"; roomId?: string; userId?: string }) {
    const total = await this.base(f)
      .select((eb) => eb.fn.countAll<number>().as("n"))
      .executeTakeFirstOrThrow();
    // Synapse lists newest first by default (dir=b).
    const rows = await this.base(f)
      .selectAll()
      .orderBy("id", f.dir === "f" ? "asc" : "desc")
      .limit(f.limit)
      .offset(f.from)
      .execute();
    return { rows, total: Number(total.n) };
  }

  async get(id: number) {
    return this.db
      .selectFrom("reports")
      .selectAll()
      .where("kind", "=", "event")
      .where("id", "=", id)
      .executeTakeFirst();
  }

  async delete(id: number): Promise<boolean> {
    const r = await this.db
      .deleteFrom("reports")
      .where("kind", "=", "event")
      .where("id", "=", id)
      .executeTakeFirst();
    return Number(r.numDeletedRows) > 0;
  }
}

/** Synapse's event reports admin API: list, get (with the event), delete (resolve). */
export function mountAdminReportRoutes(
  r: AdminRoutes,
  repo: EventReportsRepository,
  rooms: Pick<RoomsService, "getStateEvent">,
  eventPdu: (eventId: string) => Promise<Record<string, unknown> | null>,
): void {
  const json = async (row: NonNullable<Awaited<ReturnType<EventReportsRepository["get"]>>>) => {
    const event = row.event_id ? await eventPdu(row.event_id) : null;
    const roomId = row.room_id ?? "";
    const name = roomId ? ((await rooms.getStateEvent(roomId, "m.room.name", ""))?.name ?? null) : null;
    const alias = roomId
      ? ((await rooms.getStateEvent(roomId, "m.room.canonical_alias", ""))?.alias ?? null)
      : null;
    return {
      id: Number(row.id),
      received_ts: Number(row.received_at),
      room_id: row.room_id,
      name,
      canonical_alias: alias,
      event_id: row.event_id,
      user_id: row.reporter,
      sender: typeof event?.sender === "string" ? event.sender : null,
      reason: row.reason,
      score: row.score === null ? null : Number(row.score),
      event,
    };
  };
  const idParam = (raw: string) => {
    if (!/^\d{1,15}$/.test(raw)) throw notFound("Event report not found");
    return Number(raw);
  };

  r.get("/v1/event_reports", async (req) => {
    const from = intQuery(req, "from", 0);
    const limit = intQuery(req, "limit", 100, 1000);
    const dir = req.query.get("dir") === null ? "b" : dirQuery(req);
    const { rows, total } = await repo.list({
      from,
      limit,
      dir,
      roomId: req.query.get("room_id") ?? undefined,
      userId: req.query.get("user_id") ?? undefined,
    });
    const reports = [];
    for (const row of rows) {
      const { event: _e, ...rest } = await json(row);
      reports.push(rest);
    }
    const body: Record<string, unknown> = { event_reports: reports, total };
    if (from + rows.length < total) body.next_token = from + rows.length;
    return { body };
  });
  r.get("/v1/event_reports/:id", async (req) => {
    const row = await repo.get(idParam(req.params.id!));
    if (!row) throw notFound("Event report not found");
    const { event, ...rest } = await json(row);
    return { body: { ...rest, event_json: event } };
  });
  r.delete("/v1/event_reports/:id", async (req) => {
    if (!(await repo.delete(idParam(req.params.id!)))) throw notFound("Event report not found");
    return { body: {} };
  });
}
