import type { ClientEvent } from "./client-events.ts";
import type { StoredEvent } from "./events.ts";
import type { EventFilter } from "./storage/rows.ts";

/** The parts of the spec's sync filter the rooms stream reads (validated by sync/filter.ts). */
export type RoomSyncFilter = {
  rooms?: string[];
  notRooms: Set<string>;
  timelineLimit: number;
  timeline: EventFilter;
  stateTypes?: string[];
  stateNotTypes?: string[];
  lazyLoadMembers: boolean;
  includeRedundantMembers: boolean;
  includeLeave: boolean;
};

const obj = (v: unknown): Record<string, unknown> =>
  v && typeof v === "object" && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
const strings = (v: unknown): string[] | undefined =>
  Array.isArray(v) ? v.filter((x): x is string => typeof x === "string") : undefined;

/** Reads the filter defensively: anything malformed falls back to the spec's default. */
export function readRoomFilter(filter: Record<string, unknown>): RoomSyncFilter {
  const room = obj(filter.room);
  const timeline = obj(room.timeline);
  const state = obj(room.state);
  const limit = timeline.limit;
  return {
    rooms: strings(room.rooms),
    notRooms: new Set(strings(room.not_rooms) ?? []),
    timelineLimit:
      typeof limit === "number" && Number.isInteger(limit) && limit >= 0 ? Math.min(limit, 1000) : 10,
    timeline: {
      types: strings(timeline.types),
      notTypes: strings(timeline.not_types),
      senders: strings(timeline.senders),
      notSenders: strings(timeline.not_senders),
    },
    stateTypes: strings(state.types),
    stateNotTypes: strings(state.not_types),
    lazyLoadMembers: state.lazy_load_members === true,
    includeRedundantMembers: state.include_redundant_members === true,
    includeLeave: room.include_leave === true,
  };
}

export function timelineFiltered(f: RoomSyncFilter): boolean {
  const tf = f.timeline;
  return Boolean(tf.types || tf.notTypes?.length || tf.senders || tf.notSenders?.length);
}

export function typeMatches(type: string, patterns: string[]): boolean {
  return patterns.some((p) => (p.endsWith("*") ? type.startsWith(p.slice(0, -1)) : p === type));
}

/** A state event from the room snapshot in client format (no unsigned extras but age). */
export function storedToClient(e: StoredEvent, now: number): ClientEvent {
  const ev: ClientEvent = {
    type: e.pdu.type,
    content: e.pdu.content,
    event_id: e.eventId,
    sender: e.pdu.sender,
    origin_server_ts: e.pdu.origin_server_ts,
    room_id: e.pdu.room_id,
    unsigned: { age: Math.max(0, now - e.pdu.origin_server_ts) },
  };
  if (e.pdu.state_key !== undefined) ev.state_key = e.pdu.state_key;
  return ev;
}
