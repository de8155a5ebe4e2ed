/**
 * A room event as stored and signed (the PDU format of room versions 3+, without `origin`; v1–v2
 * events also carry their `event_id`). prev_events and auth_events are plain ids in every version:
 * the `[id, hashes]` pairs of v1–v2 only matter between servers, and Nova's events stay home.
 */
export type Pdu = {
  /** Room versions 1 and 2: the event's own id (random, not derived from its hash). */
  event_id?: string;
  room_id: string;
  sender: string;
  type: string;
  state_key?: string;
  content: Record<string, unknown>;
  origin_server_ts: number;
  depth: number;
  prev_events: string[];
  auth_events: string[];
  /** Top-level `redacts` of room versions ≤ 10. */
  redacts?: string;
  hashes?: { sha256: string };
  signatures?: Record<string, Record<string, string>>;
};

/** An event with its id and its place on the stream. */
export type StoredEvent = {
  eventId: string;
  pdu: Pdu;
  position: number;
};

/** Read-only view of a room's state, keyed by (type, state_key). */
export type StateView = {
  get(type: string, stateKey: string): StoredEvent | undefined;
};

export const stateKeyOf = (type: string, stateKey: string): string => `${type}\u0000${stateKey}`;

/** Membership of `userId` in the state, or null when there is no member event. */
export function membershipIn(state: StateView, userId: string): string | null {
  const m = state.get("m.room.member", userId)?.pdu.content.membership;
  return typeof m === "string" ? m : null;
}
