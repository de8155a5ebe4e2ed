import { forbidden, notFound } from "../../../companion-services/platform/errors.ts";
import { type ClientEvent, normalizeRow, toClientEvent, type Viewer } from "../client-events.ts";
import type { RoomsCore } from "../core.ts";
import { membershipIn } from "../events.ts";
import { hiddenByIgnore } from "../ignored-users.ts";
import { formatRoomToken } from "../pagination.ts";
import type { EventFilter, EventRow } from "../storage/rows.ts";
import type { Aggregations } from "./aggregations.ts";
import { ErasedSenders, pruneErased } from "./erasure.ts";
import type { StateReads } from "./state.ts";

export type MessagesQuery = {
  from: number;
  dir: "b" | "f";
  limit: number;
  to?: number;
  filter: EventFilter;
  lazyLoadMembers: boolean;
};

export type ContextQuery = { limit: number; filter: EventFilter; lazyLoadMembers: boolean };

/** Reads of a room's timeline for clients: /messages, /event, /context, with history visibility. */
export class TimelineReads {
  private readonly erased: ErasedSenders;

  constructor(
    private readonly core: RoomsCore,
    private readonly state: StateReads,
    private readonly aggregations: Aggregations,
  ) {
    this.erased = new ErasedSenders(core.ctx.identity);
    core.ctx.hooks.on("userDeactivated", (e) => this.erased.forget(e.userId));
  }

  /** Learns in one lookup which of many senders are erased, so `served` per room asks nothing more. */
  async learnSenders(rows: Iterable<EventRow>): Promise<void> {
    const senders = new Set<string>();
    for (const r of rows) senders.add(r.sender);
    if (senders.size > 0) await this.erased.among(senders);
  }

  /**
   * The rows as this viewer is served them: erased senders' events redacted (see pruneErased).
   * /sync calls it too, for windows where the viewer was not joined throughout.
   */
  served(userId: string, roomId: string, rows: EventRow[]): Promise<EventRow[]> {
    return pruneErased(rows, userId, this.erased, async () => {
      const [memberships, snap] = await Promise.all([
        this.core.repo.state.membershipHistory(roomId, userId),
        this.core.snapshots.get(roomId),
      ]);
      if (!snap) throw notFound("Unknown room.");
      return { memberships, version: snap.version };
    });
  }

  /** GET /messages, for a user the caller has checked may read the room (StateReads.readableAt). */
  async messages(
    userId: string,
    roomId: string,
    q: MessagesQuery,
    viewer: Viewer,
  ): Promise<Record<string, unknown>> {
    const { from, dir, limit, to } = q;
    const rows = (await this.core.repo.events.page(roomId, { from, dir, limit, to, filter: q.filter })).map(
      normalizeRow,
    );
    const visible = await this.state.visibleTo(userId, roomId);
    const ignored = await this.core.ignoredBy(userId);
    const shown = rows.filter((r) => visible(r) && !hiddenByIgnore(r, ignored));
    const chunk = (await this.served(userId, roomId, shown)).map((r) => toClientEvent(r, viewer));
    await this.aggregations.bundle(viewer, chunk);
    const body: Record<string, unknown> = { chunk, start: formatRoomToken(from) };
    if (rows.length === limit) {
      const last = rows[rows.length - 1]!.stream_position;
      body.end = formatRoomToken(dir === "b" ? last - 1 : last);
    }
    if (q.lazyLoadMembers && chunk.length > 0) {
      body.state = await this.lazyMembers(roomId, chunk, viewer);
    }
    return body;
  }

  /** GET /event: an event the user may see, or 404. */
  async event(userId: string, roomId: string, eventId: string, viewer: Viewer): Promise<ClientEvent> {
    const [row] = await this.served(userId, roomId, [await this.visibleEvent(userId, roomId, eventId)]);
    const ev = toClientEvent(row!, viewer);
    await this.aggregations.bundle(viewer, [ev]);
    return ev;
  }

  /** GET /context around `row` (from visibleEvent): events around it and the state at the window's end. */
  async context(
    userId: string,
    row: EventRow,
    q: ContextQuery,
    current: number,
    viewer: Viewer,
  ): Promise<Record<string, unknown>> {
    const { events, state: stateRepo } = this.core.repo;
    const roomId = row.room_id;
    const beforeLimit = Math.floor(q.limit / 2);
    const afterLimit = q.limit - beforeLimit;
    const p = row.stream_position;
    const f = q.filter;
    const [before, after] = await Promise.all([
      beforeLimit > 0 ? events.page(roomId, { from: p - 1, dir: "b", limit: beforeLimit, filter: f }) : [],
      afterLimit > 0
        ? events.page(roomId, { from: p, dir: "f", limit: afterLimit, to: current, filter: f })
        : [],
    ]);
    const visible = await this.state.visibleTo(userId, roomId);
    const b = before.map(normalizeRow);
    const a = after.map(normalizeRow);
    const start = b.length > 0 ? b[b.length - 1]!.stream_position - 1 : p - 1;
    const end = a.length > 0 ? a[a.length - 1]!.stream_position : p;
    const [served, ...around] = await this.served(userId, roomId, [
      row,
      ...b.filter(visible),
      ...a.filter(visible),
    ]);
    const nBefore = b.filter(visible).length;
    const eventsBefore = around.slice(0, nBefore).map((r) => toClientEvent(r, viewer));
    const eventsAfter = around.slice(nBefore).map((r) => toClientEvent(r, viewer));
    const event = toClientEvent(served!, viewer);
    await this.aggregations.bundle(viewer, [event, ...eventsBefore, ...eventsAfter]);
    let state: ClientEvent[] = (await stateRepo.stateAt(roomId, end)).map((r) =>
      toClientEvent(normalizeRow(r), viewer),
    );
    if (q.lazyLoadMembers) {
      const senders = new Set([
        userId,
        row.sender,
        ...eventsBefore.map((e) => e.sender),
        ...eventsAfter.map((e) => e.sender),
      ]);
      state = state.filter((e) => e.type !== "m.room.member" || senders.has(e.state_key ?? ""));
    }
    return {
      event,
      events_before: eventsBefore,
      events_after: eventsAfter,
      start: formatRoomToken(start),
      end: formatRoomToken(end),
      state,
    };
  }

  /** An event the user may see, or 404 (spec: not found or no permission look the same). */
  async visibleEvent(
    userId: string,
    roomId: string,
    eventId: string,
    /** GET /context refuses someone never in a non world-readable room with 403, as Synapse (the
     * spec gives it no error); GET /event answers 404, as its spec says. */
    strangers: "not-found" | "forbidden" = "not-found",
  ): Promise<EventRow> {
    const snap = await this.core.snapshots.get(roomId);
    const worldReadable =
      snap?.get("m.room.history_visibility", "")?.pdu.content.history_visibility === "world_readable";
    const stranger = !worldReadable && snap !== null && membershipIn(snap, userId) === null;
    if (stranger && strangers === "forbidden") throw forbidden("You are not a member of this room.");
    const raw = await this.core.repo.events.getEvent(eventId);
    if (!raw || raw.room_id !== roomId) throw notFound("Event not found.");
    const row = normalizeRow(raw);
    if (stranger) throw notFound("Event not found.");
    const visible = await this.state.visibleTo(userId, roomId);
    if (!visible(row)) throw notFound("Event not found.");
    return row;
  }

  /** Member events of the chunk's senders (lazy_load_members). */
  private async lazyMembers(roomId: string, chunk: ClientEvent[], viewer: Viewer): Promise<ClientEvent[]> {
    const senders = new Set(chunk.map((e) => e.sender));
    const rows = (await this.core.repo.state.currentState(roomId)).filter(
      (r) => r.type === "m.room.member" && r.state_key !== null && senders.has(r.state_key),
    );
    return rows.map((r) => toClientEvent(normalizeRow(r), viewer));
  }
}
