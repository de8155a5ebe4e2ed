import type { AccountDataService } from "../../client/account-data.ts";
import type { ExtensionWindow } from "./types.ts";

type Event = { type: string; content: unknown };
export type AccountDataResult = { global: Event[]; rooms: Record<string, Event[]> };

/**
 * account_data (MSC3959). Global data is a delta against `pos` (all of it, with m.push_rules, on a
 * new connection); a room's data is a delta against how far this connection has that room (all of
 * it when the room is new to the connection). One read covers both: rows changed since the
 * oldest position any of them needs, filtered per room.
 */
export async function accountData(
  service: AccountDataService,
  rooms: readonly string[],
  w: ExtensionWindow,
): Promise<AccountDataResult> {
  const to = w.to.stream;
  const fresh: string[] = [];
  let lower = w.from?.stream ?? null;
  for (const id of rooms) {
    const since = w.roomSince.get(id) ?? null;
    if (since === null) fresh.push(id);
    else if (lower !== null) lower = Math.min(lower, since.stream);
  }
  // With `lower` null every row is read anyway, fresh rooms included.
  const [rows, freshRows] = await Promise.all([
    service.changed(w.userId, lower, to),
    lower !== null && fresh.length > 0 ? service.forRooms(w.userId, fresh, to) : [],
  ]);

  const global: Event[] = [];
  const byRoom: Record<string, Event[]> = {};
  const wanted = new Set(rooms);
  const freshSet = new Set(fresh);
  const add = (roomId: string, e: Event) => {
    byRoom[roomId] ??= [];
    byRoom[roomId].push(e);
  };
  for (const r of rows) {
    const pos = Number(r.stream_pos);
    const e = { type: r.type, content: r.content };
    if (r.room_id === "") {
      if (w.from === null || pos > w.from.stream) global.push(e);
      continue;
    }
    if (!wanted.has(r.room_id)) continue;
    if (freshSet.has(r.room_id)) {
      if (lower === null) add(r.room_id, e);
      continue;
    }
    const since = w.roomSince.get(r.room_id)!;
    if (pos > since.stream) add(r.room_id, e);
  }
  for (const r of freshRows) add(r.room_id, { type: r.type, content: r.content });

  // Push rules live in their own store; a new connection gets them even if never changed.
  if (w.from === null && !global.some((e) => e.type === "m.push_rules")) {
    const content = await service.get(w.userId, null, "m.push_rules");
    if (content !== undefined) global.push({ type: "m.push_rules", content });
  }
  return { global, rooms: byRoom };
}
