import type { ChangesSince } from "./changes.ts";
import type { SyncToken } from "./token.ts";

/** JSON object of a /sync response, built up by the stream providers. */
export type SyncResponse = {
  next_batch: string;
  rooms?: {
    join?: Record<string, Record<string, unknown>>;
    invite?: Record<string, Record<string, unknown>>;
    leave?: Record<string, Record<string, unknown>>;
    knock?: Record<string, Record<string, unknown>>;
  };
  account_data?: { events: unknown[] };
  presence?: { events: unknown[] };
  to_device?: { events: unknown[] };
  device_lists?: { changed: string[]; left: string[] };
  device_one_time_keys_count?: Record<string, number>;
  device_unused_fallback_key_types?: string[];
  [key: string]: unknown;
};

/** One sync request as the providers see it, with the window (from, to] already fixed. */
export type SyncRequest = {
  userId: string;
  deviceId: string;
  /** Null on an initial sync. */
  since: SyncToken | null;
  to: SyncToken;
  fullState: boolean;
  /** The parsed filter (the spec's filter JSON, validated by the sync module). */
  filter: Record<string, unknown>;
  /**
   * What changed after `since`, by stream kind (set by the engine on incremental syncs the change
   * index covers; null: unknown, read everything). A provider may skip reads of a kind that did
   * not move for this user or their rooms.
   */
  changes?: ChangesSince | null;
};

/**
 * One stream's part of a sync response (Dendrite's syncapi/streams): room events, to-device,
 * device lists, key counts… `/sync` and the WebSocket transport both ask every registered provider.
 */
export interface SyncStreamProvider {
  readonly name: string;
  /** Adds this stream's changes in (since, to] to `response`. */
  fill(req: SyncRequest, response: SyncResponse): Promise<void>;
  /**
   * Called once the device has synced with `since` = `position` (it has therefore received
   * everything up to it): to-device messages up to it may be deleted.
   */
  acknowledge?(userId: string, deviceId: string, position: number): Promise<void>;
}

/** Whether a provider added something a client would want to be woken for. */
export function responseHasData(r: SyncResponse): boolean {
  const rooms = r.rooms;
  if (
    rooms &&
    (Object.keys(rooms.join ?? {}).length ||
      Object.keys(rooms.invite ?? {}).length ||
      Object.keys(rooms.knock ?? {}).length ||
      Object.keys(rooms.leave ?? {}).length)
  ) {
    return true;
  }
  return Boolean(
    r.account_data?.events.length ||
      r.presence?.events.length ||
      r.to_device?.events.length ||
      r.device_lists?.changed.length ||
      r.device_lists?.left.length,
  );
}
