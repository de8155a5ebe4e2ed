import type { RoomSnapshot } from "../rooms/room-snapshot.ts";
import type { SlidingFilters, SlidingList } from "./schema.ts";

/** A room the user has a membership in, as the lists see it. */
export type ListedRoom = {
  roomId: string;
  membership: string;
  /** Stream position and event id of the user's membership event. */
  membershipPosition: number;
  membershipEventId: string;
  /** Order key: the newest event's position for joined rooms, the membership's otherwise. */
  activity: number;
};

/** What the filters ask of a room, loaded only when a filter needs it. */
export type RoomFacts = {
  snapshot(roomId: string): Promise<RoomSnapshot | null>;
  directRooms(): Promise<ReadonlySet<string>>;
  tags(roomId: string): Promise<ReadonlySet<string>>;
  /** Rooms that are an m.space.child of one of these spaces. */
  spaceChildren(spaces: readonly string[]): Promise<ReadonlySet<string>>;
};

/** Newest activity first; ties by room id, so the order is the same on every request. */
export function sortRooms(rooms: ListedRoom[]): ListedRoom[] {
  return rooms.sort(
    (a, b) => b.activity - a.activity || (a.roomId < b.roomId ? -1 : a.roomId > b.roomId ? 1 : 0),
  );
}

/** The rooms matching a list's filters (all of them ANDed; an absent field filters nothing). */
export async function applyFilters(
  rooms: readonly ListedRoom[],
  filters: SlidingFilters | null | undefined,
  facts: RoomFacts,
): Promise<ListedRoom[]> {
  if (!filters) return [...rooms];
  const out: ListedRoom[] = [];
  const direct = filters.is_dm != null ? await facts.directRooms() : null;
  const inSpaces = filters.spaces ? await facts.spaceChildren(filters.spaces) : null;
  for (const room of rooms) {
    if (filters.is_invite != null && (room.membership === "invite") !== filters.is_invite) continue;
    if (direct && direct.has(room.roomId) !== filters.is_dm) continue;
    if (inSpaces && !inSpaces.has(room.roomId)) continue;
    if (filters.is_encrypted != null || filters.room_types || filters.not_room_types) {
      const snap = await facts.snapshot(room.roomId);
      if (
        filters.is_encrypted != null &&
        Boolean(snap?.get("m.room.encryption", "")) !== filters.is_encrypted
      )
        continue;
      const type = roomType(snap);
      // not_room_types wins over room_types (MSC4186); null stands for rooms without a type.
      if (filters.not_room_types?.includes(type)) continue;
      if (filters.room_types && !filters.room_types.includes(type)) continue;
    }
    if (filters.tags || filters.not_tags) {
      const tags = await facts.tags(room.roomId);
      if (filters.not_tags?.some((t) => tags.has(t))) continue;
      if (filters.tags && !filters.tags.some((t) => tags.has(t))) continue;
    }
    out.push(room);
  }
  return out;
}

function roomType(snap: RoomSnapshot | null): string | null {
  const t = snap?.get("m.room.create", "")?.pdu.content.type;
  return typeof t === "string" ? t : null;
}

/** The room ids a list's ranges select (inclusive ends), in list order, each once. */
export function inRanges(sorted: readonly ListedRoom[], list: SlidingList): string[] {
  const picked = new Set<number>();
  for (const [start, end] of list.ranges ?? []) {
    for (let i = start; i <= Math.min(end, sorted.length - 1); i++) picked.add(i);
  }
  return [...picked].sort((a, b) => a - b).map((i) => sorted[i]!.roomId);
}
