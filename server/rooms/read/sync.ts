import { type ClientEvent, normalizeRow, type Viewer } from "../client-events.ts";
import type { RoomsCore } from "../core.ts";
import type { EventFilter, EventRow } from "../storage/rows.ts";
import { visibilityFilter } from "../visibility.ts";
import type { Aggregations } from "./aggregations.ts";

/** What the rooms of one sync response need, read for all of them at once (initial syncs). */
export type Prefetched = {
  visibility: Map<string, (row: EventRow) => boolean>;
  state: Map<string, EventRow[]>;
};

export type Membership = { room_id: string; membership: string; event_id: string; stream_position: number };

/** The reads of the rooms sync stream: every one bounded by the window the caller fixed. */
export class SyncReads {
  constructor(
    private readonly core: RoomsCore,
    private readonly aggregations: Aggregations,
  ) {}

  /**
   * Bundles the aggregations of the timelines of a response, in one query. A timeline whose
   * oldest event is newer than its room's newest relation has none, and is not asked about
   * (always asked with several replicas: the snapshot may not have seen another's write yet).
   */
  async bundleTimelines(
    viewer: Viewer,
    timelines: { roomId: string; oldest: number; events: ClientEvent[] }[],
  ): Promise<void> {
    const events: ClientEvent[] = [];
    for (const t of timelines) {
      if (t.events.length === 0) continue;
      if (!this.core.multiReplica) {
        const snap = await this.core.snapshots.get(t.roomId);
        if (snap && snap.lastRelation <= t.oldest) continue;
      }
      events.push(...t.events);
    }
    if (events.length > 0) await this.aggregations.bundle(viewer, events);
  }

  /** The user's membership event in each of `roomIds` as of `position`. */
  membershipsAt(userId: string, roomIds: string[], position: number): Promise<Membership[]> {
    return this.core.repo.state.membershipsAt(userId, roomIds, position);
  }

  /** The room's state after every event at or below `position`. */
  stateAt(roomId: string, position: number, types?: string[]): Promise<EventRow[]> {
    return this.core.repo.state.stateAt(roomId, position, types);
  }

  /**
   * Rooms with events in (since, to]. A room whose snapshot shows nothing after `since` and no
   * write in flight has none (a write's position becomes visible only while it is in flight or
   * after the snapshot took it), so only the others are asked of the database.
   */
  async roomsWithEvents(roomIds: string[], since: number, to: number): Promise<Set<string>> {
    const { events } = this.core.repo;
    if (this.core.multiReplica) return events.roomsWithEvents(roomIds, since, to);
    const unsure: string[] = [];
    for (const id of roomIds) {
      const snap = await this.core.snapshots.get(id);
      if (!snap || snap.inFlight > 0 || snap.lastPosition > since) unsure.push(id);
    }
    return events.roomsWithEvents(unsure, since, to);
  }

  /**
   * For rooms sent in full: their visibility inputs and their state at the given positions (the
   * timelines' starts), in three queries whatever the number of rooms (instead of three per room);
   * a target's `members` narrows its member events to those users'.
   */
  async prefetch(
    userId: string,
    targets: { roomId: string; position: number; members?: string[] }[],
  ): Promise<Prefetched> {
    const { state: repo } = this.core.repo;
    const roomIds = targets.map((t) => t.roomId);
    const [state, inputs] = await Promise.all([
      repo.stateAtMany(targets),
      repo.visibilityInputsMany(userId, roomIds),
    ]);
    const visibility = new Map<string, (row: EventRow) => boolean>();
    for (const roomId of roomIds) {
      const fn = visibilityFilter({
        userId,
        memberships: inputs.memberships.get(roomId) ?? [],
        visibilities: inputs.visibilities.get(roomId) ?? [],
      });
      visibility.set(roomId, (row) => fn(row));
      if (!state.has(roomId)) state.set(roomId, []);
    }
    return { visibility, state };
  }

  /** The user's history-visibility filter of each room, in one query whatever the number of rooms. */
  async visibilityMany(userId: string, roomIds: string[]): Promise<Map<string, (row: EventRow) => boolean>> {
    const inputs = await this.core.repo.state.visibilityInputsMany(userId, roomIds);
    const out = new Map<string, (row: EventRow) => boolean>();
    for (const roomId of roomIds) {
      const fn = visibilityFilter({
        userId,
        memberships: inputs.memberships.get(roomId) ?? [],
        visibilities: inputs.visibilities.get(roomId) ?? [],
      });
      out.set(roomId, (row) => fn(row));
    }
    return out;
  }

  /**
   * Newest events per room in (since, upto], up to `limit` per room, newest first. Unfiltered
   * windows ending at one position are shared by every member of a room: from memory.
   */
  async timelines(
    roomIds: string[],
    since: number,
    upto: number | Map<string, number>,
    limit: number,
    filter: EventFilter,
    filtered: boolean,
  ): Promise<Map<string, EventRow[]>> {
    const out = new Map<string, EventRow[]>();
    const cache = typeof upto === "number" && !filtered ? this.core.timelines : null;
    let misses = roomIds;
    if (cache) {
      misses = [];
      for (const id of roomIds) {
        const hit = cache.get(id, since, upto as number, limit);
        if (!hit) misses.push(id);
        else if (hit.length > 0) out.set(id, hit);
      }
      if (misses.length === 0) return out;
    }
    const rows = await this.core.repo.events.recentEvents(misses, since, upto, limit, filter);
    for (const raw of rows) {
      const r = normalizeRow(raw);
      let list = out.get(r.room_id);
      if (!list) {
        list = [];
        out.set(r.room_id, list);
      }
      list.push(r);
    }
    if (cache) for (const id of misses) cache.put(id, since, upto as number, out.get(id) ?? [], limit);
    return out;
  }

  /** Stream position of an event if it is in the room (unread counts start from a receipt's). */
  async eventPosition(roomId: string, eventId: string): Promise<number | null> {
    const row = await this.core.repo.events.getEvent(eventId);
    return row && row.room_id === roomId ? Number(row.stream_position) : null;
  }

  /**
   * Events in (after, upTo], oldest first, at most `limit` (what unread counts evaluate). The
   * room's newest events are usually in memory: every member's sync counts the same ones.
   */
  async eventsAfter(roomId: string, after: number, upTo: number, limit: number): Promise<EventRow[]> {
    const cached = this.core.timelines.get(roomId, after, upTo, limit);
    if (cached && cached.length < limit) return cached.reverse();
    return this.core.repo.events.page(roomId, { from: after, dir: "f", to: upTo, limit });
  }

  /** Each room's newest event position at or below `upto` (of `types`, when given). */
  lastPositions(roomIds: string[], upto: number, types?: readonly string[]): Promise<Map<string, number>> {
    return this.core.repo.events.lastPositions(roomIds, upto, types);
  }

  /** Events by id, in client-ready rows. */
  async eventsByIds(eventIds: string[]): Promise<EventRow[]> {
    return (await this.core.repo.events.eventsByIds(eventIds)).map(normalizeRow);
  }

  /** Rooms anyone may join or read: their members are visible to everyone in the user directory. */
  openRoomIds(): Promise<string[]> {
    return this.core.repo.state.openRoomIds();
  }
}
