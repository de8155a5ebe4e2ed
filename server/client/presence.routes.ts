import { z } from "zod";
import { forbidden, notFound } from "../../companion-services/platform/errors.ts";
import type { NovaContext } from "../context.ts";
import { parseUserIdParam, requireSelf } from "../ids.ts";
import { PRESENCE_STATES, type PresenceService } from "./presence.ts";
import type { ClientRooms } from "./rooms-port.ts";

const putPresenceBody = z.object({
  presence: z.enum(PRESENCE_STATES),
  status_msg: z.string().max(1024).nullable().optional(),
});

/** GET/PUT /presence/{userId}/status; others' presence only for users sharing a room. */
export function mountPresenceRoutes(ctx: NovaContext, presence: PresenceService, rooms: ClientRooms): void {
  ctx.router.put("/_matrix/client/v3/presence/:userId/status", async (req) => {
    const userId = requireSelf(req, "set presence");
    const body = req.json(putPresenceBody);
    await presence.set(userId, body.presence, body.status_msg);
    return { body: {} };
  });

  ctx.router.get("/_matrix/client/v3/presence/:userId/status", async (req) => {
    const userId = parseUserIdParam(req.params.userId!);
    if (userId !== req.auth!.userId) {
      if (!(await ctx.identity.getUser(userId))) throw notFound("Unknown user");
      const sharing = await rooms.usersSharingRoomsWith(req.auth!.userId);
      if (!sharing.includes(userId)) throw forbidden("You are not allowed to see their presence.");
    }
    const state = presence.get(userId) ?? { presence: "offline" as const, statusMsg: null, lastActive: 0 };
    const content = presence.content(state);
    if (state.lastActive === 0) delete content.last_active_ago;
    return { body: content };
  });
}
