import { z } from "zod";
import type { NovaContext } from "../context.ts";
import type { RoomsService } from "../rooms/service.ts";
import { type UserInteractiveAuth, uiaAuthSchema } from "../uia.ts";
import { passwordStage } from "./account.ts";

const deactivateBody = z.object({
  auth: uiaAuthSchema.optional(),
  erase: z.boolean().optional(),
  /** Nova binds 3PIDs on no identity server: identity drops the account's own, nothing to unbind. */
  id_server: z.string().optional(),
});

/** What deactivation needs of the rooms service: where the user is, and the leave verb. */
export type DeactivationRooms = Pick<RoomsService, "activeRoomIds" | "leave">;

/**
 * `POST /account/deactivate` (spec §"Account deactivation"): re-authenticates with the password,
 * then deactivates the account in identity (sessions and devices gone, login answers
 * M_USER_DEACTIVATED, the user id stays taken, its 3PIDs are unbound; with `erase` the profile is
 * cleared) and leaves every room the user is joined or invited to, as Synapse does.
 */
export function mountDeactivate(
  ctx: NovaContext,
  deps: { rooms: DeactivationRooms; uia: UserInteractiveAuth },
): void {
  ctx.router.post("/_matrix/client/v3/account/deactivate", async (req) => {
    const auth = req.auth!;
    const body = req.json(deactivateBody);
    await deps.uia.require(
      body.auth,
      [["m.login.password"]],
      { "m.login.password": passwordStage(ctx, auth) },
      {},
      { operation: `${req.method} ${req.path}` },
    );
    await deactivateAccount(ctx, deps.rooms, auth.userId, body.erase ?? false);
    return { body: { id_server_unbind_result: "no-support" } };
  });
}

export async function deactivateAccount(
  ctx: NovaContext,
  rooms: DeactivationRooms,
  userId: string,
  erase: boolean,
): Promise<void> {
  // Identity first: the tokens die before anything else happens in the user's name.
  await ctx.identity.deactivate(userId, { erase });
  await ctx.hooks.emit("userDeactivated", { userId, erased: erase });
  for (const roomId of await rooms.activeRoomIds(userId)) {
    // One room refusing (e.g. it changed meanwhile) does not keep the user in the others.
    await rooms.leave(userId, roomId).catch((err: unknown) => {
      ctx.logger.warn({ err, userId, roomId }, "deactivation: leaving a room failed");
    });
  }
}
