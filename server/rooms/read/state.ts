import { forbidden, MatrixError, notFound } from "../../../companion-services/platform/errors.ts";
import { type ClientEvent, normalizeRow, toClientEvent, type Viewer } from "../client-events.ts";
import type { RoomsCore } from "../core.ts";
import { parseRoomToken } from "../pagination.ts";
import type { RoomSnapshot } from "../room-snapshot.ts";
import type { EventRow } from "../storage/rows.ts";
import { visibilityFilter } from "../visibility.ts";

/** One entry of GET /joined_members (spec "RoomMember"). */
export type JoinedMember = { display_name: string | null; avatar_url: string | null };

export type Readable = { snap: RoomSnapshot; position: number | null };

/** Reads of room state and members, with the permission checks of the client API. */
export class StateReads {
  constructor(private readonly core: RoomsCore) {}

  /**
   * Where the user may read the room's state: current state while joined (or when the room is
   * world_readable), the state when they left for a former member; otherwise 403.
   */
  async readableAt(userId: string, roomId: string): Promise<Readable> {
    try {
      return await this.readableAtCached(userId, roomId);
    } catch (err) {
      // Refused on cached state: another replica may have let the user in since.
      const snap = this.core.snapshots.peek(roomId);
      if (
        !(err instanceof MatrixError) ||
        !snap ||
        !(await this.core.snapshots.headMoved(roomId, snap.lastPosition))
      )
        throw err;
      this.core.invalidateRoom(roomId);
      return this.readableAtCached(userId, roomId);
    }
  }

  private async readableAtCached(userId: string, roomId: string): Promise<Readable> {
    const snap = await this.core.snapshots.get(roomId);
    if (!snap) throw forbidden("You are not a member of this room.");
    const m = snap.get("m.room.member", userId);
    const membership = m?.pdu.content.membership;
    if (membership === "join") return { snap, position: null };
    if (snap.get("m.room.history_visibility", "")?.pdu.content.history_visibility === "world_readable") {
      return { snap, position: null };
    }
    if (m && (membership === "leave" || membership === "ban")) {
      // A former member (not a rejected invite or knock) sees the room as it was when they left.
      const history = await this.core.repo.state.membershipHistory(roomId, userId);
      if (history.some((h) => h.membership === "join")) return { snap, position: m.position };
    }
    throw forbidden("You are not a member of this room.");
  }

  /** State events as client events, current or at a position. */
  async stateEvents(roomId: string, position: number | null, viewer: Viewer | null): Promise<ClientEvent[]> {
    const { repo } = this.core;
    if (position === null) {
      const snap = await this.core.snapshots.get(roomId);
      if (!snap) return [];
      const rows = await repo.state.currentState(roomId);
      return rows.map((r) => toClientEvent(normalizeRow(r), viewer));
    }
    const rows = await repo.state.stateAt(roomId, position);
    return rows.map((r) => toClientEvent(normalizeRow(r), viewer));
  }

  /** Content of the current state event, or null (no permission check: for other areas). */
  async getStateEvent(
    roomId: string,
    type: string,
    stateKey: string,
  ): Promise<Record<string, unknown> | null> {
    const snap = await this.core.snapshots.get(roomId);
    return snap?.get(type, stateKey)?.pdu.content ?? null;
  }

  /** GET /state/{type}/{stateKey}: the content the user may see; 404 when there is none. */
  async stateContent(
    userId: string,
    roomId: string,
    type: string,
    stateKey: string,
  ): Promise<Record<string, unknown>> {
    const { snap, position } = await this.readableAt(userId, roomId);
    if (position === null) {
      const ev = snap.get(type, stateKey);
      if (!ev) throw notFound("Event not found.");
      return ev.pdu.content;
    }
    return toClientEvent(await this.stateRowAt(roomId, position, type, stateKey), null).content;
  }

  /** GET /state/{type}/{stateKey}?format=event: the whole event the user may see; 404 when there is none. */
  async stateClientEvent(
    userId: string,
    roomId: string,
    type: string,
    stateKey: string,
    viewer: Viewer,
  ): Promise<ClientEvent> {
    const { snap, position } = await this.readableAt(userId, roomId);
    if (position === null) {
      const ev = snap.get(type, stateKey);
      const row = ev ? await this.core.repo.events.getEvent(ev.eventId) : null;
      if (!row) throw notFound("Event not found.");
      return toClientEvent(normalizeRow(row), viewer);
    }
    return toClientEvent(await this.stateRowAt(roomId, position, type, stateKey), viewer);
  }

  private async stateRowAt(
    roomId: string,
    position: number,
    type: string,
    stateKey: string,
  ): Promise<EventRow> {
    const rows = await this.core.repo.state.stateAt(roomId, position, [type]);
    const row = rows.find((r) => r.state_key === stateKey);
    if (!row) throw notFound("Event not found.");
    return normalizeRow(row);
  }

  /** GET /state: the state the user may see. */
  async readableState(userId: string, roomId: string, viewer: Viewer): Promise<ClientEvent[]> {
    const { position } = await this.readableAt(userId, roomId);
    return this.stateEvents(roomId, position, viewer);
  }

  /** Member events of the room at `position` (null: current). */
  async memberRows(roomId: string, position: number | null): Promise<EventRow[]> {
    const { state } = this.core.repo;
    return position === null
      ? (await state.currentState(roomId)).filter((r) => r.type === "m.room.member")
      : await state.stateAt(roomId, position, ["m.room.member"]);
  }

  /** GET /members: `at` (a room token) caps what a current member sees, too. */
  async members(
    userId: string,
    roomId: string,
    opts: { at: string | null; membership: string | null; notMembership: string | null },
    viewer: Viewer,
  ): Promise<ClientEvent[]> {
    const { position } = await this.readableAt(userId, roomId);
    let at = position;
    if (opts.at) {
      const p = parseRoomToken(opts.at);
      at = at === null ? p : Math.min(at, p);
    }
    const rows = await this.memberRows(roomId, at);
    return rows
      .map((r) => toClientEvent(normalizeRow(r), viewer))
      .filter((e) => {
        const m = e.content.membership;
        if (opts.membership && m !== opts.membership) return false;
        if (opts.notMembership && m === opts.notMembership) return false;
        return true;
      });
  }

  /** GET /joined_members: both keys always present, null when unset (as Synapse answers). */
  async joinedMembersOf(userId: string, roomId: string): Promise<Record<string, JoinedMember>> {
    const { position } = await this.readableAt(userId, roomId);
    const rows = await this.memberRows(roomId, position);
    const joined: Record<string, JoinedMember> = {};
    for (const r of rows) {
      const e = toClientEvent(normalizeRow(r), null);
      if (e.content.membership !== "join" || !e.state_key) continue;
      const { displayname, avatar_url } = e.content;
      joined[e.state_key] = {
        display_name: typeof displayname === "string" ? displayname : null,
        avatar_url: typeof avatar_url === "string" ? avatar_url : null,
      };
    }
    return joined;
  }

  /** A predicate for the events this user may see in this room (history visibility). */
  async visibleTo(userId: string, roomId: string): Promise<(row: EventRow) => boolean> {
    const { state } = this.core.repo;
    const [memberships, visibilities] = await Promise.all([
      state.membershipHistory(roomId, userId),
      state.visibilityHistory(roomId),
    ]);
    const f = visibilityFilter({ userId, memberships, visibilities });
    return (row) => f(row);
  }
}
