import type { SyncRequest, SyncResponse, SyncStreamProvider } from "../../sync/provider.ts";
import {
  type ClientEvent,
  normalizeRow,
  STRIPPED_STATE_TYPES,
  strippedState,
  toClientEvent,
  type Viewer,
} from "./client-events.ts";
import { hiddenByIgnore } from "./ignored-users.ts";
import { LazyMembersSent } from "./lazy-members-sent.ts";
import { formatRoomToken } from "./pagination.ts";
import type { Membership, Prefetched, SyncReads } from "./read/sync.ts";
import type { RoomsApi } from "./service.ts";
import type { EventRow } from "./storage/rows.ts";
import {
  type RoomSyncFilter,
  readRoomFilter,
  storedToClient,
  timelineFiltered,
  typeMatches,
} from "./sync-room-filter.ts";
import { type RoomWindow, visibleTimeline } from "./sync-visible-timeline.ts";

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

type BundleTarget = { roomId: string; oldest: number; events: ClientEvent[] };

/** A room's part of the response, and the position of its timeline's oldest event. */
type RoomSection = {
  body: { timeline: { events: ClientEvent[] } & Record<string, unknown>; state: { events: ClientEvent[] } };
  /** As read, older pages included when history visibility hid events (the bundle's lower bound). */
  oldest: number;
};

const EMPTY_PREFETCH: Prefetched = { visibility: new Map(), state: new Map() };

/** What every room of one response shares. */
type SectionContext = {
  req: SyncRequest;
  f: RoomSyncFilter;
  viewer: Viewer;
  ignored: ReadonlySet<string>;
};

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
    private readonly sent = new LazyMembersSent(),
  ) {}

  async fill(req: SyncRequest, response: SyncResponse): Promise<void> {
    const f = readRoomFilter(req.filter);
    const since = req.since?.stream ?? null;
    const to = req.to.stream;
    if (f.lazyLoadMembers && !f.includeRedundantMembers)
      this.sent.answering(req.userId, req.deviceId, since, to);
    const viewer: Viewer = { userId: req.userId, deviceId: req.deviceId };
    const ignored = await this.rooms.ignoredBy(req.userId);
    const ctx: SectionContext = { req, f, viewer, ignored };

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
      // Every room sent in full reads its current state below (summary, unread counts): after a
      // restart, load them all at once rather than one room at a time.
      if (fullIds.length > 1) await this.rooms.warmSnapshots(fullIds);
      const timelines = await this.timelines(fullIds, 0, to, f);
      for (const [k, v] of await this.timelines(deltaIds, since ?? 0, to, f)) timelines.set(k, v);
      const pre = await this.prefetch(req.userId, fullIds, timelines, to, f);
      if (fullIds.length > 0) {
        await this.rooms.reads.timeline.learnSenders(fullIds.flatMap((id) => timelines.get(id) ?? []));
      }
      const joinSection = roomsSection(response, "join");
      const bundles: BundleTarget[] = [];
      for (const m of joinedToSend) {
        const isFull = full(m.room_id);
        const section = await this.roomSection(
          ctx,
          {
            roomId: m.room_id,
            newestFirst: timelines.get(m.room_id) ?? [],
            since,
            upto: to,
            full: isFull,
            newlyJoined: newlyJoined.has(m.room_id),
            checkVisibility: isFull || m.stream_position > (since ?? 0),
            omitIfEmpty: true,
          },
          pre,
        );
        if (!section) continue;
        const target = roomEntry(joinSection, m.room_id);
        Object.assign(target, section.body);
        bundles.push({ roomId: m.room_id, oldest: section.oldest, events: section.body.timeline.events });
        const summary = await this.summary(m.room_id, req.userId, isFull ? null : since);
        if (summary) target.summary = summary;
      }
      await this.reads.bundleTimelines(viewer, bundles);
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
      // A room joined and left inside the window is new to the client: its full state comes
      // (Synapse counts it newly joined).
      const joinedInWindow =
        since === null || req.fullState
          ? new Set<string>()
          : await this.joinedInWindow(req.userId, left, since);
      const leaveSection = roomsSection(response, "leave");
      const bundles: BundleTarget[] = [];
      for (const m of left) {
        const section = await this.roomSection(ctx, {
          roomId: m.room_id,
          newestFirst: timelines.get(m.room_id) ?? [],
          since,
          upto: m.stream_position,
          full: since === null || req.fullState || joinedInWindow.has(m.room_id),
          newlyJoined: false,
          checkVisibility: true,
          omitIfEmpty: false,
        });
        if (!section) continue;
        Object.assign(roomEntry(leaveSection, m.room_id), section.body);
        bundles.push({ roomId: m.room_id, oldest: section.oldest, events: section.body.timeline.events });
      }
      await this.reads.bundleTimelines(viewer, bundles);
    }
  }

  /** Left rooms the user was not in at `since` but joined before leaving. */
  private async joinedInWindow(userId: string, left: Membership[], since: number): Promise<Set<string>> {
    const out = new Set<string>();
    const atSince = new Map(
      (
        await this.reads.membershipsAt(
          userId,
          left.map((m) => m.room_id),
          since,
        )
      ).map((m) => [m.room_id, m]),
    );
    for (const m of left) {
      if (atSince.get(m.room_id)?.membership === "join") continue;
      const before = await this.reads.membershipsAt(userId, [m.room_id], m.stream_position - 1);
      if (before[0]?.membership === "join" && before[0].stream_position > since) out.add(m.room_id);
    }
    return out;
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
      const position = oldest ? oldest.stream_position - 1 : upto;
      // Lazy loading keeps only the members of the user and the timeline's senders (roomSection):
      // those of this unfiltered timeline are a superset of what it keeps, so nothing kept is
      // left unread. (A timeline paged for visibility reads its state again.)
      if (!f.lazyLoadMembers) return { roomId, position };
      return { roomId, position, members: [...new Set([userId, ...rows.map((r) => r.sender)])] };
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
    ctx: SectionContext,
    w: RoomWindow,
    pre: Prefetched = EMPTY_PREFETCH,
  ): Promise<RoomSection | null> {
    const { f, viewer, ignored } = ctx;
    const { userId, deviceId } = ctx.req;
    const { roomId, since, full } = w;
    const now = Date.now();
    let rows = w.newestFirst.slice(0, f.timelineLimit).reverse();
    let start = rows.length > 0 ? rows[0]!.stream_position - 1 : w.upto;
    let more = w.newestFirst.length > f.timelineLimit;
    let preState = pre.state.get(roomId);
    // Events from before the user could see the room (initial sync, new joins, leaves) are filtered.
    if (w.checkVisibility) {
      const v = await visibleTimeline(this.rooms, this.reads, userId, w, f, pre);
      rows = v.rows;
      more = v.more;
      if (v.paged) {
        start = rows.length > 0 ? rows[0]!.stream_position - 1 : w.upto;
        preState = undefined;
      }
      // Only a viewer not joined throughout can have been absent when an erased user wrote.
      rows = await this.rooms.reads.timeline.served(userId, roomId, rows);
    }
    // A newly joined room has no continuous history before it (Synapse: limited).
    const limited = more || w.newlyJoined;
    const timeline = rows.filter((r) => !hiddenByIgnore(r, ignored)).map((r) => toClientEvent(r, viewer));
    // A gappy delta's state: every change between `since` and the timeline's start (the spec's
    // "state at the start of the timeline minus what the client had").
    const gappy = !full && since !== null && start > since && (limited || timelineFiltered(f));
    let stateRows: EventRow[] = [];
    if (full) stateRows = preState ?? (await this.reads.stateAt(roomId, start));
    else if (gappy) stateRows = await this.reads.stateAt(roomId, start);
    const inTimeline = new Set(timeline.map((e) => e.event_id));
    let state: ClientEvent[] = (
      full ? stateRows : stateRows.filter((r) => Number(r.stream_position) > since!)
    )
      .map((r) => toClientEvent(normalizeRow(r), viewer))
      .filter((e) => !inTimeline.has(e.event_id));
    const stateWanted = (type: string) =>
      (!f.stateTypes || typeMatches(type, f.stateTypes)) &&
      !(f.stateNotTypes && typeMatches(type, f.stateNotTypes));
    state = state.filter((e) => stateWanted(e.type));
    if (f.lazyLoadMembers && stateWanted("m.room.member")) {
      const senders = new Set([userId, ...timeline.map((e) => e.sender)]);
      // Full state is lazy: the members of the timeline's senders. A delta keeps every membership
      // change of the gap (Synapse disables lazy loading there): the client's member list is
      // otherwise stale.
      if (full) state = state.filter((e) => e.type !== "m.room.member" || senders.has(e.state_key ?? ""));
      const have = new Set(state.filter((e) => e.type === "m.room.member").map((e) => e.state_key));
      if (full) for (const e of timeline) if (e.type === "m.room.member") have.add(e.state_key);
      // Lazy loading promises the member event of every timeline sender. The user's own is sent
      // once, with the room's full state.
      const missing = [...senders].filter((u) => !have.has(u) && (full || u !== userId));
      if (gappy) {
        const atStart = new Map(
          stateRows.filter((r) => r.type === "m.room.member").map((r) => [r.state_key, r]),
        );
        for (const u of missing) {
          const r = atStart.get(u);
          if (r && !inTimeline.has(r.event_id)) state.push(toClientEvent(normalizeRow(r), viewer));
        }
      } else if (missing.length > 0) {
        // No state read here (the common delta): the current member event, when not newer than
        // the timeline's first event (which, as in Synapse, counts as the start).
        const snap = await this.rooms.snapshot(roomId);
        const first = full ? start : start + 1;
        for (const u of missing) {
          const member = snap?.get("m.room.member", u);
          if (member && member.position <= first) state.push(storedToClient(member, now));
        }
      }
      if (!f.includeRedundantMembers) {
        if (full) this.sent.forgetRoom(userId, deviceId, roomId);
        else if (since !== null) {
          state = state.filter(
            (e) =>
              e.type !== "m.room.member" ||
              !this.sent.has(userId, deviceId, roomId, e.state_key!, e.event_id, since),
          );
        }
        const members = [...state, ...timeline]
          .filter((e) => e.type === "m.room.member" && e.state_key !== undefined)
          .map((e) => ({ stateKey: e.state_key!, eventId: e.event_id }));
        this.sent.record(userId, deviceId, roomId, members, ctx.req.to.stream);
      }
    }
    // Nothing to say about a room in a delta (everything filtered out): it is left out (Synapse).
    if (!full && w.omitIfEmpty && timeline.length === 0 && state.length === 0) return null;
    return {
      body: {
        timeline: { events: timeline, limited, prev_batch: formatRoomToken(start) },
        state: { events: state },
      },
      oldest: rows[0]?.stream_position ?? 0,
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
