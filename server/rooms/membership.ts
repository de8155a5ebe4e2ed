/**
 * Writing a state event as a user, for areas whose actions are room state (calls' MatrixRTC
 * memberships, profile changes as m.room.member events).
 */
export interface RoomStateWriter {
  sendStateEvent(
    sender: string,
    roomId: string,
    type: string,
    stateKey: string,
    content: Record<string, unknown>,
  ): Promise<string>;
}

/**
 * What other homeserver areas (sync, crypto, client config, calls) may ask the rooms area about
 * membership. Implemented by the rooms service; read-only.
 */
export interface RoomMembership {
  /** Rooms the user is joined to. */
  joinedRoomIds(userId: string): Promise<string[]>;
  /** Rooms the user is joined to or invited to (a sync waiter wakes for writes in these). */
  activeRoomIds(userId: string): Promise<string[]>;
  /** The user's current membership in the room ("join", "invite", "leave", "ban", "knock"), or null. */
  membership(roomId: string, userId: string): Promise<string | null>;
  /** Users currently joined to the room. */
  joinedMembers(roomId: string): Promise<string[]>;
  /** Every user who shares at least one joined room with `userId` (including `userId`). */
  usersSharingRoomsWith(userId: string): Promise<string[]>;
  /** Whether the event exists in that room. */
  eventInRoom(roomId: string, eventId: string): Promise<boolean>;
}
