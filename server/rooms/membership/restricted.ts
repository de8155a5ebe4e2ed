import { forbidden, MatrixError } from "../../../companion-services/platform/errors.ts";
import { serverNameOf } from "../../ids.ts";
import { membershipIn, type StateView } from "../events.ts";
import { type PowerLevels, userLevel } from "../power-levels.ts";
import type { RoomSnapshot } from "../room-snapshot.ts";

/** Join rules whose `allow` list lets members of other rooms join without an invite (v8+, v10). */
export const RESTRICTED_JOIN_RULES: ReadonlySet<string> = new Set(["restricted", "knock_restricted"]);

/** The room ids of the join rules' `allow` entries of type m.room_membership (others are ignored). */
export function allowedRoomIds(joinRulesContent: Record<string, unknown> | undefined): string[] {
  const allow = joinRulesContent?.allow;
  if (!Array.isArray(allow)) return [];
  const out: string[] = [];
  for (const a of allow) {
    if (!a || typeof a !== "object") continue;
    const { type, room_id } = a as { type?: unknown; room_id?: unknown };
    if (type === "m.room_membership" && typeof room_id === "string") out.push(room_id);
  }
  return out;
}

/**
 * Auth rule of a restricted join by someone neither joined nor invited (spec room version 10 §
 * auth rules 4.3.4): `join_authorised_via_users_server` must name a joined member with the power
 * to invite. Returns why the join is refused, or null when it is allowed.
 */
export function restrictedJoinRefusal(
  content: Record<string, unknown>,
  state: StateView,
  pl: PowerLevels,
): string | null {
  const via = content.join_authorised_via_users_server;
  if (typeof via !== "string") return "room is restricted and the join was not authorised by a member";
  if (membershipIn(state, via) !== "join")
    return "join_authorised_via_users_server is not joined to the room";
  if (userLevel(pl, via) < pl.invite) return "join_authorised_via_users_server cannot invite";
  return null;
}

/**
 * Who authorises a restricted join on this server (Synapse's get_user_which_could_invite): the
 * local joined member with the highest power level, if that level reaches `invite`. The spec
 * leaves the choice to the resident server; Synapse answers 400 M_UNABLE_TO_GRANT_JOIN without one.
 */
export function localAuthoriser(snap: RoomSnapshot, serverName: string): string {
  const pl = snap.powerLevels();
  let best: string | null = null;
  for (const u of snap.members("join")) {
    if (serverNameOf(u) !== serverName) continue;
    if (best === null || userLevel(pl, u) > userLevel(pl, best)) best = u;
  }
  if (best === null || userLevel(pl, best) < pl.invite) {
    throw new MatrixError(400, "M_UNABLE_TO_GRANT_JOIN", "No user in the room can authorise this join.");
  }
  return best;
}

/**
 * Whether `userId` may join a restricted room without an invite: joined to one of the rooms its
 * `allow` list names. 403 otherwise (Synapse's message).
 */
export async function checkAllowedByMembership(
  userId: string,
  joinRulesContent: Record<string, unknown> | undefined,
  snapshotOf: (roomId: string) => Promise<RoomSnapshot | null>,
): Promise<void> {
  for (const roomId of allowedRoomIds(joinRulesContent)) {
    if ((await snapshotOf(roomId))?.is(userId, "join")) return;
  }
  throw forbidden("You do not belong to any of the required rooms/spaces to join this room.");
}
