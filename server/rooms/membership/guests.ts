import type { NovaContext } from "../../context.ts";
import type { RoomSnapshot } from "../room-snapshot.ts";

/** Whether the room's `m.room.guest_access` lets guests join (spec "Guest Access"). */
export function guestsCanJoin(snap: Pick<RoomSnapshot, "get">): boolean {
  return snap.get("m.room.guest_access", "")?.pdu.content.guest_access === "can_join";
}

type GuestRooms = {
  snapshot(roomId: string): Promise<RoomSnapshot | null>;
  leave(userId: string, roomId: string, reason?: string): Promise<void>;
};

/**
 * When a room stops being `can_join`, its joined guests leave it, as Synapse does
 * (`_kick_guest_users`: each guest's own leave event).
 */
export function kickGuestsOnRevocation(ctx: NovaContext, rooms: GuestRooms): void {
  ctx.hooks.on("guestAccessChanged", async ({ roomId, guestAccess }) => {
    if (guestAccess === "can_join") return;
    const snap = await rooms.snapshot(roomId);
    if (!snap || guestsCanJoin(snap)) return;
    const joined = snap.members("join");
    const guests = (await ctx.identity.getUsers(joined)).filter((u) => u.isGuest);
    for (const g of guests) {
      await rooms.leave(g.userId, roomId).catch((err: unknown) => {
        ctx.logger.warn({ err, roomId, userId: g.userId }, "removing a guest failed");
      });
    }
  });
}
