/**
 * In-process notifications between homeserver areas (rooms → crypto for device lists, identity →
 * crypto for deleted devices). Handlers run in registration order and are awaited, so a hook's
 * effect is visible before the request that caused it answers.
 */
export type HomeserverHooks = {
  /** A user's membership in a room changed; `position` is the stream position of the event. */
  membershipChanged: (e: {
    roomId: string;
    userId: string;
    membership: string;
    prevMembership: string | null;
    position: number;
  }) => Promise<void> | void;
  /** A room's `m.room.guest_access` changed (rooms kick its guests when it is no longer can_join). */
  guestAccessChanged: (e: { roomId: string; guestAccess: string | null }) => Promise<void> | void;
  /**
   * A room was upgraded (POST /rooms/{id}/upgrade): its local members' per-room settings (push
   * rules, tags, m.direct) follow them to the replacement room.
   */
  roomUpgraded: (e: { oldRoomId: string; newRoomId: string; userIds: string[] }) => Promise<void> | void;
  /** An account was deactivated (and, with `erased`, its earlier events are to be served redacted). */
  userDeactivated: (e: { userId: string; erased: boolean }) => Promise<void> | void;
  /** A device logged in for the first time. */
  deviceCreated: (e: { userId: string; deviceId: string }) => Promise<void> | void;
  /** A device's display name changed (other users see it in /keys/query). */
  deviceRenamed: (e: {
    userId: string;
    deviceId: string;
    displayName: string | null;
  }) => Promise<void> | void;
  /** A device was deleted or logged out: its keys and queues go. */
  deviceRevoked: (e: { userId: string; deviceId: string }) => Promise<void> | void;
};

export class Hooks {
  private readonly handlers: { [K in keyof HomeserverHooks]: HomeserverHooks[K][] } = {
    membershipChanged: [],
    guestAccessChanged: [],
    roomUpgraded: [],
    userDeactivated: [],
    deviceCreated: [],
    deviceRenamed: [],
    deviceRevoked: [],
  };

  on<K extends keyof HomeserverHooks>(name: K, handler: HomeserverHooks[K]): void {
    this.handlers[name].push(handler);
  }

  async emit<K extends keyof HomeserverHooks>(
    name: K,
    event: Parameters<HomeserverHooks[K]>[0],
  ): Promise<void> {
    for (const h of this.handlers[name]) await (h as (e: typeof event) => Promise<void> | void)(event);
  }
}
