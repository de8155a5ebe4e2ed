import { MatrixError } from "../../companion-services/platform/errors.ts";
import type { RoomEventHit, RoomEventMatch, SearchClient } from "../../companion-services/search/client.ts";
import { checkTerm } from "../../companion-services/search/terms.ts";
import type { ClientEvent, Viewer } from "../rooms/client-events.ts";
import { toClientEvent } from "../rooms/client-events.ts";
import { hiddenByIgnore } from "../rooms/ignored-users.ts";
import type { RoomsService } from "../rooms/service.ts";
import type { EventRow } from "../rooms/storage/rows.ts";
import type { RoomEventsCriteria } from "./schema.ts";

const DEFAULT_LIMIT = 10;
const MAX_LIMIT = 100;
const MAX_CONTEXT = 20;
const SEARCHED_FIELDS = ["body", "name", "topic"] as const;
const MAX_PREDECESSORS = 10;

type Result = { rank: number; result: ClientEvent; context?: Record<string, unknown> };

/** A type pattern of a filter: `*` matches anything (spec "Filtering"). */
function typeMatcher(patterns: string[]): (type: string) => boolean {
  const res = patterns.map(
    (p) => new RegExp(`^${p.replace(/[.+?^${}()|[\]\\]/g, "\\$&").replaceAll("*", ".*")}$`),
  );
  return (t) => res.some((r) => r.test(t));
}

/**
 * POST /search for the homeserver: search finds candidate events in its read model, restricted
 * to the rooms the user is joined to; each is then read through the rooms service as /event and
 * /context read it (history visibility at the event, ignored senders, redactions, erasure), so
 * a user never finds an event they could not read. Encrypted rooms are skipped here too, should
 * the read model lag behind an m.room.encryption.
 */
export class MatrixSearch {
  constructor(
    private readonly rooms: RoomsService,
    private readonly search: SearchClient,
    private readonly currentPosition: () => number,
  ) {}

  async roomEvents(viewer: Viewer, c: RoomEventsCriteria, nextBatch: string | undefined) {
    const me = viewer.userId;
    const term = checkTerm(c.search_term);
    const f = c.filter ?? {};
    const limit = Math.min(f.limit ?? DEFAULT_LIMIT, MAX_LIMIT);
    const orderBy = c.order_by ?? "rank";
    const roomIds = await this.searchableRooms(me, f.rooms, f.not_rooms);
    const wildcard = [...(f.types ?? []), ...(f.not_types ?? [])].some((t) => t.includes("*"));
    const r =
      limit === 0
        ? { hits: [], count: 0, highlights: [] as string[] }
        : await this.search.searchRoomEvents({
            term,
            roomIds,
            ...(c.keys ? { keys: c.keys } : {}),
            ...(f.senders ? { senders: f.senders } : {}),
            ...(f.not_senders ? { notSenders: f.not_senders } : {}),
            ...(f.types && !wildcard ? { types: f.types } : {}),
            ...(f.not_types && !wildcard ? { notTypes: f.not_types } : {}),
            orderBy,
            limit,
            ...(nextBatch ? { from: nextBatch } : {}),
            withMatches: true,
          });
    const typeOk = wildcard ? this.typeFilter(f.types, f.not_types) : () => true;
    const ignored = await this.rooms.ignoredBy(me);
    const results: Result[] = [];
    for (const hit of r.hits) {
      const row = await this.readable(me, hit, ignored);
      if (!row || !typeOk(row.type)) continue;
      const [served] = await this.rooms.reads.timeline.served(me, hit.roomId, [row]);
      if (!served || served.redacted_because) continue;
      const event = toClientEvent(served, viewer);
      // An erased sender's event is served to this viewer redacted: nothing left that matched.
      if (!SEARCHED_FIELDS.some((k) => typeof event.content[k] === "string")) continue;
      const result: Result = { rank: hit.rank, result: event };
      if (c.event_context) result.context = await this.context(viewer, served, c.event_context);
      results.push(result);
    }
    const count = await this.visibleCount(me, r, ignored, typeOk);
    const body: Record<string, unknown> = { count, highlights: r.highlights, results };
    if ("next" in r && r.next) body.next_batch = r.next;
    const groupBy = c.groupings?.group_by ?? [];
    if (groupBy.length > 0) body.groups = this.groups(results, groupBy, orderBy, body.next_batch);
    if (c.include_state) {
      const state: Record<string, ClientEvent[]> = {};
      for (const roomId of new Set(results.map((x) => x.result.room_id)))
        state[roomId] = await this.rooms.reads.state.readableState(me, roomId, viewer);
      body.state = state;
    }
    return body;
  }

  /**
   * `count` as the user could see it: every match is judged by history visibility at its position
   * (and ignored senders), so the total never tells of events the user cannot read. Past
   * MAX_MATCHES matches the rest is added as search counted it (an estimate, as the spec allows).
   */
  private async visibleCount(
    me: string,
    r: { count: number; matches?: RoomEventMatch[] },
    ignored: ReadonlySet<string>,
    typeOk: (t: string) => boolean,
  ): Promise<number> {
    const matches = r.matches ?? [];
    const predicates = new Map<string, (row: EventRow) => boolean>();
    let visible = 0;
    for (const m of matches) {
      if (!typeOk(m.type)) continue;
      // Only m.room.message is indexed with no state key; names and topics are room state.
      const stateKey = m.type === "m.room.message" ? null : "";
      if (hiddenByIgnore({ sender: m.sender, state_key: stateKey }, ignored)) continue;
      let visibleAt = predicates.get(m.roomId);
      if (!visibleAt) {
        visibleAt = await this.rooms.visibleTo(me, m.roomId);
        predicates.set(m.roomId, visibleAt);
      }
      const candidate = {
        stream_position: m.streamPosition,
        type: m.type,
        state_key: stateKey,
        membership: null,
      };
      if (visibleAt(candidate as unknown as EventRow)) visible++;
    }
    return visible + Math.max(0, r.count - matches.length);
  }

  /** The rooms the user is joined to, narrowed by the filter, less the encrypted ones. */
  private async searchableRooms(me: string, only?: string[], not?: string[]): Promise<string[]> {
    let rooms = await this.rooms.joinedRoomIds(me);
    if (only) {
      const wanted = new Set(only);
      // As Synapse: a room asked for brings its predecessors (rooms it was upgraded from).
      for (const roomId of only) for (const p of await this.predecessors(roomId)) wanted.add(p);
      rooms = rooms.filter((r) => wanted.has(r));
    }
    if (not) {
      const unwanted = new Set(not);
      rooms = rooms.filter((r) => !unwanted.has(r));
    }
    const out: string[] = [];
    for (const roomId of rooms) {
      const snap = await this.rooms.snapshot(roomId);
      if (snap && !snap.get("m.room.encryption", "")) out.push(roomId);
    }
    return out;
  }

  /** The rooms `roomId` was upgraded from, nearest first (m.room.create's predecessor chain). */
  private async predecessors(roomId: string): Promise<string[]> {
    const out: string[] = [];
    let current = roomId;
    for (let depth = 0; depth < MAX_PREDECESSORS; depth++) {
      const create = (await this.rooms.snapshot(current))?.get("m.room.create", "");
      const previous = (create?.pdu.content.predecessor as { room_id?: unknown } | undefined)?.room_id;
      if (typeof previous !== "string" || out.includes(previous)) break;
      out.push(previous);
      current = previous;
    }
    return out;
  }

  /** The hit's event as the user may read it, or null (not visible, gone, redacted, ignored). */
  private async readable(
    me: string,
    hit: RoomEventHit,
    ignored: ReadonlySet<string>,
  ): Promise<EventRow | null> {
    let row: EventRow;
    try {
      row = await this.rooms.reads.timeline.visibleEvent(me, hit.roomId, hit.eventId);
    } catch (err) {
      if (err instanceof MatrixError && (err.status === 404 || err.status === 403)) return null;
      throw err;
    }
    if (row.redacted_because || hiddenByIgnore(row, ignored)) return null;
    return row;
  }

  private typeFilter(types?: string[], notTypes?: string[]): (t: string) => boolean {
    const yes = types ? typeMatcher(types) : () => true;
    const no = notTypes ? typeMatcher(notTypes) : () => false;
    return (t) => yes(t) && !no(t);
  }

  private async context(
    viewer: Viewer,
    row: EventRow,
    ec: NonNullable<RoomEventsCriteria["event_context"]>,
  ): Promise<Record<string, unknown>> {
    const before = Math.min(ec.before_limit ?? 5, MAX_CONTEXT);
    const after = Math.min(ec.after_limit ?? 5, MAX_CONTEXT);
    // /context splits one limit in two halves: ask for twice the larger side and cut each.
    const around = await this.rooms.reads.timeline.context(
      viewer.userId,
      row,
      { limit: 2 * Math.max(before, after), filter: {}, lazyLoadMembers: false },
      this.currentPosition(),
      viewer,
    );
    const eventsBefore = (around.events_before as ClientEvent[]).slice(0, before);
    const eventsAfter = (around.events_after as ClientEvent[]).slice(0, after);
    const out: Record<string, unknown> = {
      start: around.start,
      end: around.end,
      events_before: eventsBefore,
      events_after: eventsAfter,
    };
    if (ec.include_profile) {
      const profiles: Record<string, { displayname?: string; avatar_url?: string }> = {};
      const senders = new Set([
        row.sender,
        ...eventsBefore.map((e) => e.sender),
        ...eventsAfter.map((e) => e.sender),
      ]);
      for (const sender of senders) {
        const m = await this.rooms.getStateEvent(row.room_id, "m.room.member", sender);
        const p: { displayname?: string; avatar_url?: string } = {};
        if (typeof m?.displayname === "string") p.displayname = m.displayname;
        if (typeof m?.avatar_url === "string") p.avatar_url = m.avatar_url;
        profiles[sender] = p;
      }
      out.profile_info = profiles;
    }
    return out;
  }

  /** `groups` (spec): per room or sender, the ids of this page's results in order. */
  private groups(
    results: Result[],
    groupBy: { key: "room_id" | "sender" }[],
    orderBy: string,
    next: unknown,
  ) {
    const groups: Record<
      string,
      Record<string, { results: string[]; order: number; next_batch?: string }>
    > = {};
    for (const { key } of groupBy) {
      const g: Record<string, { results: string[]; order: number; next_batch?: string }> = {};
      results.forEach((r, i) => {
        const k = key === "room_id" ? r.result.room_id : r.result.sender;
        const entry = g[k] ?? { results: [], order: orderBy === "rank" ? -r.rank : i };
        entry.results.push(r.result.event_id);
        if (typeof next === "string") entry.next_batch = next;
        g[k] = entry;
      });
      groups[key] = g;
    }
    return groups;
  }
}
