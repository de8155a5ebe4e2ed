import { z } from "zod";
import type { Router } from "../../companion-services/platform/http/router.ts";
import { parseEventId, parseRoomIdParam, parseUserIdParam } from "../ids.ts";
import type { ReportsService } from "./reports.ts";

/** A reason: any text PostgreSQL can store (no NUL). */
const reason = z
  .string()
  .max(10_000)
  .refine((s) => !s.includes("\u0000"), "must not contain NUL characters");

const eventReportBody = z.object({
  reason: reason.optional(),
  score: z.number().int().min(-100).max(0).optional(),
});
// Spec v1.13/v1.14: `reason` is required (it may be empty).
const reportBody = z.object({ reason });

/** Reporting content (spec "Reporting content"): events, rooms (v1.13) and users (v1.14). */
export function mountReportRoutes(router: Router, reports: ReportsService): void {
  router.post("/_matrix/client/v3/rooms/:roomId/report/:eventId", async (req) => {
    const roomId = parseRoomIdParam(req.params.roomId!);
    const eventId = parseEventId(req.params.eventId!);
    const body = req.json(eventReportBody);
    await reports.reportEvent(req.auth!.userId, roomId, eventId, body);
    return { body: {} };
  });

  router.post("/_matrix/client/v3/rooms/:roomId/report", async (req) => {
    const roomId = parseRoomIdParam(req.params.roomId!);
    const body = req.json(reportBody);
    await reports.reportRoom(req.auth!.userId, roomId, body.reason);
    return { body: {} };
  });

  router.post("/_matrix/client/v3/users/:userId/report", async (req) => {
    const userId = parseUserIdParam(req.params.userId!);
    const body = req.json(reportBody);
    await reports.reportUser(req.auth!.userId, userId, body.reason);
    return { body: {} };
  });
}
