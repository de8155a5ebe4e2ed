import { z } from "zod";
import { badJson, invalidParam } from "../../companion-services/platform/errors.ts";
import type { Request, Router } from "../../companion-services/platform/http/router.ts";
import { parseRoomAlias, parseRoomId, parseUserId } from "../ids.ts";
import type { RoomsApi } from "./service.ts";
import { parseThirdPartyInviteBody, thirdPartySignedSchema } from "./third-party/routes.ts";

const V3 = "/_matrix/client/v3";

const reasonBody = z.object({ reason: z.string().max(1000).optional() });
/**
 * A join's body: Synapse keeps every key but the request-only `third_party_signed` in the member
 * event's content (`reason`, per-room `displayname`/`avatar_url`, custom keys); `membership` is forced.
 */
const joinBody = z.looseObject({
  reason: z.string().max(1000).optional(),
  third_party_signed: thirdPartySignedSchema.optional(),
});
const targetBody = z.object({ user_id: z.string(), reason: z.string().max(1000).optional() });

function bodyObject(req: Request): Record<string, unknown> {
  const v = req.anyJson();
  if (v === null || typeof v !== "object" || Array.isArray(v)) throw badJson("Body must be a JSON object");
  return v as Record<string, unknown>;
}

/** The membership verbs: join, knock, leave, forget, invite (a user or a 3PID), kick, ban, unban. */
export function mountMembershipRoutes(router: Router, rooms: RoomsApi): void {
  const roomParam = (req: Request) => parseRoomId(req.params.roomId!);

  const join = async (req: Request, target: string) => {
    const { reason, third_party_signed: signed, membership: _membership, ...extra } = req.json(joinBody);
    if (!target.startsWith("#") && !target.startsWith("!")) throw invalidParam("Expected a room id or alias");
    if (target.startsWith("#")) parseRoomAlias(target);
    const roomId = await rooms.join(req.auth!.userId, target, reason, extra, signed);
    return { body: { room_id: roomId } };
  };
  router.post(`${V3}/join/:target`, (req) => join(req, req.params.target!));
  router.post(`${V3}/rooms/:roomId/join`, (req) => join(req, roomParam(req)));

  // `via`/`server_name` name servers to knock through: Nova does not federate, so only local rooms.
  router.post(`${V3}/knock/:target`, async (req) => {
    const target = req.params.target!;
    const { reason } = req.json(reasonBody);
    if (!target.startsWith("#") && !target.startsWith("!")) throw invalidParam("Expected a room id or alias");
    if (target.startsWith("#")) parseRoomAlias(target);
    const roomId = await rooms.knock(req.auth!.userId, target, reason);
    return { body: { room_id: roomId } };
  });

  router.post(`${V3}/rooms/:roomId/leave`, async (req) => {
    const roomId = roomParam(req);
    const body = req.json(reasonBody);
    await rooms.leave(req.auth!.userId, roomId, body.reason);
    return { body: {} };
  });
  router.post(`${V3}/rooms/:roomId/forget`, async (req) => {
    await rooms.forget(req.auth!.userId, roomParam(req));
    return { body: {} };
  });
  for (const action of ["invite", "kick", "ban", "unban"] as const) {
    router.post(`${V3}/rooms/:roomId/${action}`, async (req) => {
      const roomId = roomParam(req);
      const me = req.auth!.userId;
      const thirdParty = action === "invite" ? parseThirdPartyInviteBody(bodyObject(req)) : null;
      if (thirdParty) {
        if (!req.auth!.shadowBanned) await rooms.inviteThirdParty(me, roomId, thirdParty);
        return { body: {} };
      }
      const body = req.json(targetBody);
      const target = parseUserId(body.user_id);
      if (action === "invite" && req.auth!.shadowBanned) return { body: {} };
      if (action === "invite") await rooms.invite(me, roomId, target, body.reason);
      else if (action === "kick") await rooms.kick(me, roomId, target, body.reason);
      else if (action === "ban") await rooms.ban(me, roomId, target, body.reason);
      else await rooms.unban(me, roomId, target, body.reason);
      return { body: {} };
    });
  }
}
