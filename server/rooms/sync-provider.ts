import type { SyncRequest, SyncResponse, SyncStreamProvider } from "../../sync/provider.ts";
import {
  type ClientEvent,
  normalizeRow,
  STRIPPED_STATE_TYPES,
  strippedState,
  toClientEvent,
  type Viewer,
} from "./client-events.ts";
import type { StoredEvent } from "./events.ts";
import { hiddenByIgnore } from "./ignored-users.ts";
import { formatRoomToken } from "./pagination.ts";
import type { Membership, Prefetched, SyncReads } from "./read/sync.ts";
import type { RoomsApi } from "./service.ts";
import type { EventFilter, EventRow } from "./storage/rows.ts";

/** The parts of the spec's sync filter the rooms stream reads (validated by sync/filter.ts). */
type RoomSyncFilter = {
  rooms?: string[];
  notRooms: Set<string>;
  timelineLimit: number;
  timeline: EventFilter;
  stateTypes?: string[];
  stateNotTypes?: string[];
  lazyLoadMembers: boolean;
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
    includeLeave: room.include_leave === true,
  };
}

function timelineFiltered(f: RoomSyncFilter): boolean {
  const tf = f.timeline;
  return Boolean(tf.types || tf.notTypes?.length || tf.senders || tf.notSenders?.length);
}

function typeMatches(type: string, patterns: string[]): boolean {
  return patterns.some((p) => (p.endsWith("*") ? type.startsWith(p.slice(0, -1)) : p === type));
}

/** The response's rooms.<kind> map, created on first use (other providers add to the same rooms). */
function roomsSection(
  response: SyncResponse,
  kind: "join" | "invite" | "leave" | "knock",
): Record<string, Record<string, unknown>> {
  if (!response.rooms) response.rooms = {};
  const rooms = response.rooms;
  if (!rooms[kind]) rooms[kind] = {};
  return rooms[kind]!;
}

function roomEntry(
  section: Record<string, Record<string, unknown>>,
  roomId: string,
): Record<string, unknown> {
  if (!section[roomId]) section[roomId] = {};
  return section[roomId]!;
}

const EMPTY_PREFETCH: Prefetched = { visibility: new Map(), state: new Map() };

/** A state event from the room snapshot in client format (no unsigned extras but age). */
function storedToClient(e: StoredEvent, now: number): ClientEvent {
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

/**
 * The room events stream of /sync (Dendrite's stream_pdu): rooms.join/invite/knock/leave for the window
 * (since, to]. Every read is bounded by `to`, the safe stream position, so a later window never
 * skips an event that committed late.
 */
export class RoomsSyncProvider implements SyncStreamProvider {
  readonly name = "rooms";

  constructor(
    private readonly rooms: RoomsApi,
    private readonly reads: SyncReads,
  ) {}

  async fill(req: SyncRequest, response: SyncResponse): Promise<void> {
    const f = readRoomFilter(req.filter);
    const since = req.since?.stream ?? null;
    const to = req.to.stream;
    const viewer: Viewer = { userId: req.userId, deviceId: req.deviceId };
    const ignored = await this.rooms.ignoredBy(req.userId);

    // Nothing moved for the user (no membership change) nor in any of their rooms: nothing to say.
    // The cached memberships suffice here: a change to them would have touched the user.
    if (req.changes && !req.fullState && !req.changes.forUser(req.userId, "room")) {
      const active = (await this.rooms.membershipsOf(req.userId)).map((m) => m.room_id);
      if (req.changes.roomsWith(active, "room").length === 0) return;
    }

    // Membership as of `to` (rows changed after `to` are looked up in the history).
    const current = await this.rooms.membershipsOf(req.userId, { consistent: true });
    const forgotten = new Set(current.filter((m) => m.forgotten).map((m) => m.room_id));
    const atTo = new Map<string, Membership>();
    const stale: string[] = [];
    for (const m of current) {
      if (m.stream_position <= to) atTo.set(m.room_id, m);
      else stale.push(m.room_id);
    }
    for (const m of await this.reads.membershipsAt(req.userId, stale, to)) atTo.set(m.room_id, m);

    const wanted = (roomId: string) => !f.notRooms.has(roomId) && (!f.rooms || f.rooms.includes(roomId));
    const joined: Membership[] = [];
    const invited: Membership[] = [];
    const knocked: Membership[] = [];
    const left: Membership[] = [];
    for (const m of atTo.values()) {
      if (!wanted(m.room_id)) continue;
      if (m.membership === "join") joined.push(m);
      else if (m.membership === "invite") {
        if (since === null || m.stream_position > since) invited.push(m);
      } else if (m.membership === "knock") {
        if (since === null || m.stream_position > since) knocked.push(m);
      } else if (m.membership === "leave" || m.membership === "ban") {
        if (forgotten.has(m.room_id)) continue;
        if (since === null ? f.includeLeave : m.stream_position > since) left.push(m);
      }
    }

    // Joined rooms to report: all on an initial or full-state sync, else those with news.
    let joinedToSend = joined;
    const newlyJoined = new Set<string>();
    if (since !== null) {
      const changed = joined.filter((m) => m.stream_position > since).map((m) => m.room_id);
      if (changed.length > 0) {
        const before = new Map(
          (await this.reads.membershipsAt(req.userId, changed, since)).map((m) => [m.room_id, m]),
        );
        for (const id of changed) if (before.get(id)?.membership !== "join") newlyJoined.add(id);
      }
      if (!req.fullState) {
        const joinedIds = joined.map((m) => m.room_id);
        const active = req.changes
          ? new Set(req.changes.roomsWith(joinedIds, "room"))
          : await this.reads.roomsWithEvents(joinedIds, since, to);
        joinedToSend = joined.filter((m) => active.has(m.room_id) || newlyJoined.has(m.room_id));
      }
    }

    if (joinedToSend.length > 0) {
      // Rooms sent in full (initial, full_state, newly joined) get their latest events, history
      // before `since` included; the others get what happened in (since, to].
      const full = (id: string) => since === null || req.fullState || newlyJoined.has(id);
      const fullIds = joinedToSend.filter((m) => full(m.room_id)).map((m) => m.room_id);
      const deltaIds = joinedToSend.filter((m) => !full(m.room_id)).map((m) => m.room_id);
      const timelines = await this.timelines(fullIds, 0, to, f);
      for (const [k, v] of await this.timelines(deltaIds, since ?? 0, to, f)) timelines.set(k, v);
      const pre = await this.prefetch(req.userId, fullIds, timelines, to, f);
      const joinSection = roomsSection(response, "join");
      for (const m of joinedToSend) {
        const rows = timelines.get(m.room_id) ?? [];
        const section = await this.roomSection(
          req.userId,
          m.room_id,
          rows,
          since,
          to,
          full(m.room_id),
          f,
          viewer,
          full(m.room_id) || m.stream_position > (since ?? 0),
          ignored,
          pre,
        );
        const target = roomEntry(joinSection, m.room_id);
        Object.assign(target, section);
        const summary = await this.summary(m.room_id, req.userId, full(m.room_id) ? null : since);
        if (summary) target.summary = summary;
      }
    }

    if (invited.length > 0) {
      const inviteSection = roomsSection(response, "invite");
      for (const m of invited) {
        const state = await this.strippedStateAt(m, req.userId);
        // An invite from someone the user ignores is not delivered at all.
        if (state.own && ignored.has(state.own.sender)) continue;
        roomEntry(inviteSection, m.room_id).invite_state = { events: state.events };
      }
    }

    // A pending knock: the room as the knocker may see it, with their own knock (spec "Knocking").
    if (knocked.length > 0) {
      const knockSection = roomsSection(response, "knock");
      for (const m of knocked) {
        const state = await this.strippedStateAt(m, req.userId);
        roomEntry(knockSection, m.room_id).knock_state = { events: state.events };
      }
    }

    if (left.length > 0) {
      const bounds = new Map(left.map((m) => [m.room_id, m.stream_position]));
      const timelines = await this.timelines(
        left.map((m) => m.room_id),
        since ?? 0,
        bounds,
        f,
      );
      const leaveSection = roomsSection(response, "leave");
      for (const m of left) {
        const rows = timelines.get(m.room_id) ?? [];
        const section = await this.roomSection(
          req.userId,
          m.room_id,
          rows,
          since,
          m.stream_position,
          since === null || req.fullState,
          f,
          viewer,
          true,
          ignored,
        );
        Object.assign(roomEntry(leaveSection, m.room_id), section);
      }
    }
  }

  /**
   * The stripped state an invitee or knocker is shown (the room's stripped-state types, their own
   * member event and, as Synapse adds, the member event of whoever sent it: the inviter) as of
   * their membership event, and that member event.
   */
  private async strippedStateAt(
    m: Membership,
    userId: string,
  ): Promise<{ events: Record<string, unknown>[]; own: EventRow | undefined }> {
    const state = await this.reads.stateAt(m.room_id, m.stream_position, [
      ...STRIPPED_STATE_TYPES,
      "m.room.member",
    ]);
    const own = state.find((r) => r.type === "m.room.member" && r.state_key === userId);
    const sender = own?.sender;
    const events = state
      .filter((r) => r.type !== "m.room.member" || r.state_key === userId || r.state_key === sender)
      .map((r) => strippedState(normalizeRow(r)));
    return { events, own };
  }

  /**
   * For rooms sent in full: their visibility inputs and their state at the timeline's start, in
   * three queries whatever the number of rooms (instead of three per room).
   */
  private async prefetch(
    userId: string,
    roomIds: string[],
    timelines: Map<string, EventRow[]>,
    upto: number,
    f: RoomSyncFilter,
  ): Promise<Prefetched> {
    if (roomIds.length < 2) return EMPTY_PREFETCH;
    const targets = roomIds.map((roomId) => {
      const rows = (timelines.get(roomId) ?? []).slice(0, f.timelineLimit);
      const oldest = rows[rows.length - 1];
      return { roomId, position: oldest ? oldest.stream_position - 1 : upto };
    });
    return this.reads.prefetch(userId, targets);
  }

  /** Newest events per room in (since, upto], one more than the limit to detect `limited`. */
  private async timelines(
    roomIds: string[],
    since: number,
    upto: number | Map<string, number>,
    f: RoomSyncFilter,
  ): Promise<Map<string, EventRow[]>> {
    if (f.timelineLimit === 0 || roomIds.length === 0) return new Map();
    return this.reads.timelines(roomIds, since, upto, f.timelineLimit + 1, f.timeline, timelineFiltered(f));
  }

  private async roomSection(
    userId: string,
    roomId: string,
    newestFirst: EventRow[],
    since: number | null,
    upto: number,
    full: boolean,
    f: RoomSyncFilter,
    viewer: Viewer,
    /** False when the user was joined for the whole window: every event in it is visible. */
    checkVisibility: boolean,
    ignored: ReadonlySet<string>,
    pre: Prefetched = EMPTY_PREFETCH,
  ): Promise<Record<string, unknown>> {
    const now = Date.now();
    const limited = newestFirst.length > f.timelineLimit;
    const rows = newestFirst.slice(0, f.timelineLimit).reverse();
    // Events from before the user could see the room (initial sync, new joins, leaves) are filtered.
    const visible = !checkVisibility
      ? () => true
      : (pre.visibility.get(roomId) ?? (await this.rooms.visibleTo(userId, roomId)));
    const timeline = rows
      .filter((r) => visible(r) && !hiddenByIgnore(r, ignored))
      .map((r) => toClientEvent(r, viewer));
    const start = rows.length > 0 ? rows[0]!.stream_position - 1 : upto;
    let stateRows: EventRow[] = [];
    if (full) {
      stateRows = pre.state.get(roomId) ?? (await this.reads.stateAt(roomId, start));
    } else if (since !== null && start > since && (limited || timelineFiltered(f))) {
      // State changes the timeline does not show: those between `since` and the timeline's start.
      stateRows = (await this.reads.stateAt(roomId, start)).filter((r) => Number(r.stream_position) > since);
    }
    const inTimeline = new Set(timeline.map((e) => e.event_id));
    let state: ClientEvent[] = stateRows
      .map((r) => toClientEvent(normalizeRow(r), viewer))
      .filter((e) => !inTimeline.has(e.event_id));
    if (f.stateTypes) state = state.filter((e) => typeMatches(e.type, f.stateTypes!));
    if (f.stateNotTypes) state = state.filter((e) => !typeMatches(e.type, f.stateNotTypes!));
    if (f.lazyLoadMembers) {
      const senders = new Set([userId, ...timeline.map((e) => e.sender)]);
      state = state.filter((e) => e.type !== "m.room.member" || senders.has(e.state_key ?? ""));
      // Lazy loading promises the member event of every timeline sender: add those the state delta
      // lacks, from the room's current state when it is not newer than the timeline's start.
      const have = new Set([
        ...state.filter((e) => e.type === "m.room.member").map((e) => e.state_key),
        ...timeline.filter((e) => e.type === "m.room.member").map((e) => e.state_key),
      ]);
      const snap = await this.rooms.snapshot(roomId);
      for (const sender of senders) {
        // The user's own member event is sent once, with the room's full state.
        if (have.has(sender) || (sender === userId && !full)) continue;
        const member = snap?.get("m.room.member", sender);
        if (member && member.position <= start) state.push(storedToClient(member, now));
      }
    }
    return {
      timeline: { events: timeline, limited, prev_batch: formatRoomToken(start) },
      state: { events: state },
    };
  }

  /**
   * Member counts, and m.heroes for a room without a name (spec "RoomSummary"), from the current state. In a delta (`since`
   * given) the spec lets unchanged fields be left out, and all three derive from membership: a
   * room whose membership did not change after `since` gets none (null).
   */
  private async summary(
    roomId: string,
    userId: string,
    since: number | null,
  ): Promise<Record<string, unknown> | null> {
    const snap = await this.rooms.snapshot(roomId);
    if (!snap) return since === null ? {} : null;
    if (since !== null && snap.lastMembershipChange <= since) return null;
    const joined = snap.members("join");
    const invited = snap.members("invite");
    const counts = { "m.joined_member_count": joined.length, "m.invited_member_count": invited.length };
    // Heroes name an unnamed room: the spec asks for them only when the room has neither a name
    // nor a canonical alias, and Synapse (and the conformance suite) leave them out otherwise.
    const named = (type: string, key: string) => {
      const v = snap.get(type, "")?.pdu.content[key];
      return typeof v === "string" && v !== "";
    };
    if (named("m.room.name", "name") || named("m.room.canonical_alias", "alias")) return counts;
    const heroes = [...joined, ...invited]
      .filter((u) => u !== userId)
      .sort()
      .slice(0, 5);
    return { "m.heroes": heroes, ...counts };
  }
}
