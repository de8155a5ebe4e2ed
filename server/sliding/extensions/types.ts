import type { SyncToken } from "../../../sync/token.ts";

/**
 * One response's window as the extensions see it (MSC3885, MSC3884, MSC3959, MSC3960, MSC3961):
 * the connection's previous position, the position this response is computed at, and the rooms
 * the lists and subscriptions put in it.
 */
export type ExtensionWindow = {
  userId: string;
  deviceId: string;
  /** The connection position the request built on; null on a new connection (no `pos`). */
  from: SyncToken | null;
  /** Every read stops here: the safe stream position and the typing serial of this response. */
  to: SyncToken;
  /** Rooms each requested list puts in its ranges, by list name, in list order. */
  lists: ReadonlyMap<string, readonly string[]>;
  /** Rooms of `room_subscriptions` the user may see. */
  subscriptions: readonly string[];
  /**
   * For every room in the window (lists and subscriptions): how far the connection has the room's
   * room-scoped extension data (room account data, receipts, typing). null: never sent on this
   * connection (send everything current).
   */
  roomSince: ReadonlyMap<string, SyncToken | null>;
  /** Event ids of the timeline this response carries per room, for rooms sent `initial`. */
  initialTimelines: ReadonlyMap<string, readonly string[]>;
};

/** The extensions part of a response, and whether any of it should end a long-poll. */
export type ExtensionsResult = {
  extensions: Record<string, unknown>;
  /** True when something a waiting client wants arrived (to-device, device lists, account data, receipts, typing). */
  hasData: boolean;
};

/** A room-scoped extension's `lists` / `rooms` arguments (Synapse's defaults: `["*"]`). */
export type RoomScope = { lists?: string[]; rooms?: string[] };
