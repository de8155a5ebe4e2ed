import { z } from "zod";
import { fromZod } from "../../companion-services/platform/errors.ts";
import type { Request } from "../../companion-services/platform/http/router.ts";
import type { NovaContext } from "../context.ts";
import { parseEventId, parseRoomIdParam } from "../ids.ts";
import type { Viewer } from "./client-events.ts";
import { parseRoomToken } from "./pagination.ts";
import type { RoomsService } from "./service.ts";

const V1 = "/_matrix/client/v1/rooms/:roomId";

const limitParam = z
  .string()
  .regex(/^\d{1,9}$/, "limit must be a non-negative integer")
  .optional();
const token = z.string().min(1).max(100).optional();

const relationsQuery = z.object({
  from: token,
  to: token,
  limit: limitParam,
  dir: z.enum(["b", "f"]).optional(),
  recurse: z.enum(["true", "false"]).optional(),
  /** MSC3981's name, which matrix-js-sdk sends to servers advertising it unstable. */
  "org.matrix.msc3981.recurse": z.enum(["true", "false"]).optional(),
});

const threadsQuery = z.object({
  include: z.enum(["all", "participated"]).optional(),
  from: token,
  limit: limitParam,
});

function queryOf<T extends z.ZodType>(req: Request, schema: T): z.infer<T> {
  const r = schema.safeParse(Object.fromEntries(req.query));
  if (!r.success) throw fromZod(r.error, "M_INVALID_PARAM");
  return r.data;
}

/** At least 1, at most `max`; absent: `dflt` (Synapse's defaults). */
function limitOf(raw: string | undefined, dflt: number, max: number): number {
  return raw === undefined ? dflt : Math.min(Math.max(Number(raw), 1), max);
}

/**
 * Relations and threads (read/relations.ts): `GET /v1/rooms/{roomId}/relations/{eventId}[/{relType}
 * [/{eventType}]]` and `GET /v1/rooms/{roomId}/threads`.
 */
export function mountRelationRoutes(ctx: NovaContext, rooms: RoomsService): void {
  const { relations } = rooms.reads;
  const viewerOf = (req: Request): Viewer => ({ userId: req.auth!.userId, deviceId: req.auth!.deviceId });

  const listRelations = async (req: Request) => {
    const roomId = parseRoomIdParam(req.params.roomId ?? "");
    const eventId = parseEventId(req.params.eventId!);
    const q = queryOf(req, relationsQuery);
    const body = await relations.relations(
      req.auth!.userId,
      roomId,
      eventId,
      {
        relType: req.params.relType,
        eventType: req.params.eventType,
        from: q.from === undefined ? undefined : parseRoomToken(q.from),
        fromToken: q.from,
        to: q.to === undefined ? undefined : parseRoomToken(q.to),
        dir: q.dir ?? "b",
        limit: limitOf(q.limit, 5, 1000),
        recurse: (q.recurse ?? q["org.matrix.msc3981.recurse"]) === "true",
      },
      ctx.streams.current(),
      viewerOf(req),
    );
    return { body };
  };
  ctx.router.get(`${V1}/relations/:eventId`, listRelations);
  ctx.router.get(`${V1}/relations/:eventId/:relType`, listRelations);
  ctx.router.get(`${V1}/relations/:eventId/:relType/:eventType`, listRelations);

  ctx.router.get(`${V1}/threads`, async (req) => {
    const roomId = parseRoomIdParam(req.params.roomId ?? "");
    const q = queryOf(req, threadsQuery);
    const body = await relations.threads(
      req.auth!.userId,
      roomId,
      {
        include: q.include ?? "all",
        from: q.from === undefined ? undefined : parseRoomToken(q.from),
        limit: limitOf(q.limit, 5, 100),
      },
      ctx.streams.current(),
      viewerOf(req),
    );
    return { body };
  });
}
