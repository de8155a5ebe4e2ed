import { z } from "zod";
import { fromZod, missingParam } from "../../companion-services/platform/errors.ts";
import type { Handler, Router } from "../../companion-services/platform/http/router.ts";
import { parseRoomIdParam } from "../ids.ts";
import type { TimestampReads } from "./read/timestamp.ts";

const query = z.object({
  ts: z
    .string()
    .regex(/^\d{1,16}$/, "must be a non-negative integer")
    .transform(Number)
    .refine((n) => Number.isSafeInteger(n), "out of range"),
  dir: z.enum(["f", "b"]),
});

/** GET /_matrix/client/v1/rooms/{roomId}/timestamp_to_event?ts=…&dir=f|b (spec v1.6, MSC3030). */
export function mountTimestampRoutes(router: Router, reads: TimestampReads): void {
  const handler: Handler = async (req) => {
    const roomId = parseRoomIdParam(req.params.roomId!);
    for (const name of ["ts", "dir"]) if (req.query.get(name) === null) throw missingParam(`Missing ${name}`);
    const parsed = query.safeParse({ ts: req.query.get("ts"), dir: req.query.get("dir") });
    if (!parsed.success) throw fromZod(parsed.error, "M_INVALID_PARAM");
    const { ts, dir } = parsed.data;
    return { body: await reads.closest(req.auth!.userId, roomId, ts, dir) };
  };
  router.get("/_matrix/client/v1/rooms/:roomId/timestamp_to_event", handler);
  // MSC3030's unstable path, which clients written before v1.6 still call (Synapse serves both).
  router.get("/_matrix/client/unstable/org.matrix.msc3030/rooms/:roomId/timestamp_to_event", handler);
}
