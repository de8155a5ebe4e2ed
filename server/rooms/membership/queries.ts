import type { RoomsCore } from "../core.ts";
import { membershipIn } from "../events.ts";
import type { RoomMembership } from "../membership.ts";
import type { UserMembership } from "../storage/rows.ts";

/** What other areas ask about membership (RoomMembership), answered from the caches. */
export class MembershipQueries implements RoomMembership {
  constructor(private readonly core: RoomsCore) {}

  /**
   * The user's current membership in every room they have one in (cached; see UserRoomsCache).
   * With `consistent`, a reader that fixed its window before calling gets every membership
   * committed in it.
   */
  membershipsOf(userId: string, opts: { consistent?: boolean } = {}): Promise<UserMembership[]> {
    return this.core.users.membershipsOf(userId, opts);
  }

  async joinedRoomIds(userId: string): Promise<string[]> {
    return (await this.membershipsOf(userId)).filter((m) => m.membership === "join").map((m) => m.room_id);
  }

  async activeRoomIds(userId: string): Promise<string[]> {
    return (await this.membershipsOf(userId))
      .filter((m) => m.membership === "join" || m.membership === "invite")
      .map((m) => m.room_id);
  }

  async membership(roomId: string, userId: string): Promise<string | null> {
    const snap = await this.core.snapshots.get(roomId);
    return snap ? membershipIn(snap, userId) : null;
  }

  async joinedMembers(roomId: string): Promise<string[]> {
    const snap = await this.core.snapshots.get(roomId);
    return snap ? snap.members("join") : [];
  }

  async usersSharingRoomsWith(userId: string): Promise<string[]> {
    const users = new Set<string>([userId]);
    for (const roomId of await this.joinedRoomIds(userId)) {
      const snap = await this.core.snapshots.get(roomId);
      if (snap) for (const u of snap.members("join")) users.add(u);
    }
    return [...users];
  }

  async eventInRoom(roomId: string, eventId: string): Promise<boolean> {
    return this.core.repo.events.eventInRoom(roomId, eventId);
  }
}
