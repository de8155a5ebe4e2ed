import type { ExtensionWindow, RoomScope } from "./types.ts";

/**
 * The window rooms a room-scoped extension covers (Synapse `find_relevant_room_ids_for_extension`):
 * `lists` names lists ("*": every list), `rooms` names rooms ("*": every subscription); each
 * defaults to `["*"]` and `[]` means none. A room outside the window is never covered: its data is
 * sent when it enters the window, against that room's own `roomSince`.
 */
export function scopedRooms(
  scope: { [K in keyof RoomScope]?: readonly string[] | null },
  w: ExtensionWindow,
): string[] {
  const lists = scope.lists ?? ["*"];
  const rooms = scope.rooms ?? ["*"];
  const out = new Set<string>();
  if (lists.includes("*")) {
    for (const ids of w.lists.values()) for (const id of ids) out.add(id);
  } else {
    for (const name of lists) for (const id of w.lists.get(name) ?? []) out.add(id);
  }
  if (rooms.includes("*")) {
    for (const id of w.subscriptions) out.add(id);
  } else {
    for (const id of rooms) out.add(id);
  }
  return [...out].filter((id) => w.roomSince.has(id));
}

/**
 * Rooms grouped by how far the connection has them: `fresh` were never sent (roomSince null);
 * `since` maps a position to the rooms sent up to it, so each distinct position costs one query
 * (on a live connection that is nearly always a single one, the previous `pos`).
 */
export function bySince(
  roomIds: readonly string[],
  w: ExtensionWindow,
  part: "stream" | "typing",
): { fresh: string[]; since: Map<number, string[]> } {
  const fresh: string[] = [];
  const since = new Map<number, string[]>();
  for (const id of roomIds) {
    const t = w.roomSince.get(id) ?? null;
    if (t === null) {
      fresh.push(id);
      continue;
    }
    const group = since.get(t[part]);
    if (group) group.push(id);
    else since.set(t[part], [id]);
  }
  return { fresh, since };
}
