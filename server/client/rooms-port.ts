import type { RoomMembership } from "../rooms/membership.ts";

/**
 * What this area needs from the rooms area: membership (read-only) and sending a state event as a
 * user (profile changes become new m.room.member events in every joined room).
 */
export type ClientRooms = RoomMembership & {
  sendStateEvent(
    sender: string,
    roomId: string,
    type: string,
    stateKey: string,
    content: Record<string, unknown>,
  ): Promise<unknown>;
  /** Content of a current state event, or null. */
  getStateEvent(roomId: string, type: string, stateKey: string): Promise<Record<string, unknown> | null>;
};
