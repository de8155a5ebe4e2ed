import { z } from "zod";
import { fromZod } from "../../companion-services/platform/errors.ts";
import type { NovaContext } from "../context.ts";
import { parseRoomIdParam } from "../ids.ts";
import { SpaceHierarchy } from "./read/hierarchy.ts";
import type { RoomsService } from "./service.ts";

const query = z.object({
  suggested_only: z.enum(["true", "false"]).optional(),
  max_depth: z
    .string()
    .regex(/^\d{1,3}$/, "max_depth must be a non-negative integer")
    .optional(),
  limit: z
    .string()
    .regex(/^\d{1,4}$/, "limit must be a positive integer")
    .optional(),
  from: z.string().max(100).optional(),
});

/** Spaces: `GET /_matrix/client/v1/rooms/{roomId}/hierarchy` (read/hierarchy.ts). */
export function mountHierarchyRoutes(ctx: NovaContext, rooms: RoomsService): void {
  const hierarchy = new SpaceHierarchy((id) => rooms.snapshot(id));
  ctx.router.get("/_matrix/client/v1/rooms/:roomId/hierarchy", async (req) => {
    const roomId = parseRoomIdParam(req.params.roomId ?? "");
    const r = query.safeParse(Object.fromEntries(req.query));
    if (!r.success) throw fromZod(r.error, "M_INVALID_PARAM");
    const limit = r.data.limit === undefined ? 50 : Math.min(Math.max(Number(r.data.limit), 1), 100);
    return {
      body: await hierarchy.walk(req.auth!.userId, roomId, {
        suggestedOnly: r.data.suggested_only === "true",
        maxDepth: r.data.max_depth === undefined ? undefined : Number(r.data.max_depth),
        limit,
        from: r.data.from,
      }),
    };
  });
}
