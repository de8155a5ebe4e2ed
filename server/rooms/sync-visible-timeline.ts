import type { Prefetched, SyncReads } from "./read/sync.ts";
import type { RoomsApi } from "./service.ts";
import type { EventRow } from "./storage/rows.ts";
import type { RoomSyncFilter } from "./sync-room-filter.ts";

/** Sizes of the older pages read when history visibility hid part of a timeline. */
const HIDDEN_HISTORY_PAGES = [50, 100, 200];

/** One room's window in the response. */
export type RoomWindow = {
  roomId: string;
  /** Newest first, one more than the limit when there are more. */
  newestFirst: EventRow[];
  since: number | null;
  upto: number;
  /** Sent with its full state (initial, full_state, newly joined, joined and left in the window). */
  full: boolean;
  newlyJoined: boolean;
  /** False when the user was joined for the whole window: every event in it is visible. */
  checkVisibility: boolean;
  /** A room with nothing to report is left out (joined rooms in a delta). */
  omitIfEmpty: boolean;
};

/**
 * The room's timeline, visible events only (Synapse's `filter_events_for_client`): when the
 * history visibility hides some, older pages are read (a few, growing) until the limit is
 * reached. The room's current state is always shown (Synapse's `always_include_ids`): a member
 * who joined while the user was away still appears when the user comes back.
 */
export async function visibleTimeline(
  rooms: Pick<RoomsApi, "visibleTo" | "snapshot">,
  reads: SyncReads,
  userId: string,
  w: RoomWindow,
  f: RoomSyncFilter,
  pre: Prefetched,
): Promise<{ rows: EventRow[]; more: boolean; paged: boolean }> {
  const seen = pre.visibility.get(w.roomId) ?? (await rooms.visibleTo(userId, w.roomId));
  const snap = await rooms.snapshot(w.roomId);
  const visible = (r: EventRow) =>
    seen(r) ||
    (r.state_key !== null &&
      r.state_key !== undefined &&
      snap?.get(r.type, r.state_key)?.eventId === r.event_id);
  const lower = w.full ? 0 : (w.since ?? 0);
  const kept: EventRow[] = [];
  let examined = w.newestFirst.slice(0, f.timelineLimit);
  let more = w.newestFirst.length > f.timelineLimit;
  let paged = false;
  for (let page = 0; ; page++) {
    for (const r of examined) {
      if (kept.length >= f.timelineLimit) {
        more = true;
        break;
      }
      if (visible(r)) kept.push(r);
    }
    const size = HIDDEN_HISTORY_PAGES[page];
    if (kept.length >= f.timelineLimit || !more || size === undefined || examined.length === 0) break;
    const oldest = examined[examined.length - 1]!.stream_position;
    const next =
      (await reads.timelines([w.roomId], lower, oldest - 1, size + 1, f.timeline, true)).get(w.roomId) ?? [];
    paged = true;
    more = next.length > size;
    examined = next.slice(0, size);
  }
  return { rows: kept.reverse(), more, paged };
}
