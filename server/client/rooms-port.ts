import type { RoomMembership, RoomStateWriter } from "../rooms/membership.ts";

/**
 * What this area needs from the rooms area: membership (read-only) and sending a state event as a
 * user (profile changes become new m.room.member events in every joined room).
 */
export type ClientRooms = RoomMembership &
  RoomStateWriter & {
    /** Content of a current state event, or null. */
    getStateEvent(roomId: string, type: string, stateKey: string): Promise<Record<string, unknown> | null>;
  };
