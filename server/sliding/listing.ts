import type { ChangeIndex } from "../../sync/changes.ts";
import type { RoomsApi } from "../rooms/service.ts";
import type { ConnectionState } from "./connection-state.ts";
import type { ListedRoom } from "./room-list.ts";

/** Above this many rooms to look up, one query beats a snapshot per room (cold ones load state). */
const SNAPSHOT_ASK_MAX = 50;
const KNOWN = new Set(["join", "invite", "knock", "leave", "ban"]);
type Activity = { asOf: number; byRoom: Map<string, number> };
const MAX_USERS = 10_000;
const MAX_SENDERS = 100_000;

/**
 * The rooms a user's lists hold as of a stream position: joined, invited and knocked rooms, rooms
 * the user was kicked or banned from, and rooms the connection has as joined that the user has
 * since left (sent once more so the client learns of it). Invites from ignored users are left out.
 */
export class RoomListing {
  /** Each user's rooms' newest event positions, refreshed only for rooms written since. */
  private readonly activity = new Map<string, Activity>();
  private readonly senders = new Map<string, string>();

  constructor(
    private readonly rooms: RoomsApi,
    private readonly changes: ChangeIndex,
  ) {}

  /**
   * `listed`: what the lists hold. `all`: every room the user has a membership in (rooms they
   * left included), the rooms a subscription may name.
   */
  async list(
    userId: string,
    to: number,
    from: ConnectionState | null,
  ): Promise<{ listed: ListedRoom[]; all: Map<string, ListedRoom> }> {
    const current = await this.rooms.membershipsOf(userId, { consistent: true });
    const atTo = new Map<string, { membership: string; event_id: string; stream_position: number }>();
    const stale: string[] = [];
    for (const m of current) {
      if (m.forgotten) continue;
      if (m.stream_position <= to) atTo.set(m.room_id, m);
      else stale.push(m.room_id);
    }
    for (const m of await this.rooms.reads.sync.membershipsAt(userId, stale, to)) atTo.set(m.room_id, m);

    const senders = await this.sendersOf(
      [...atTo.values()].filter((m) => m.membership !== "join").map((m) => m.event_id),
    );
    const ignored = await this.rooms.ignoredBy(userId);
    const joined: string[] = [];
    const listed: ListedRoom[] = [];
    const all = new Map<string, ListedRoom>();
    for (const [roomId, m] of atTo) {
      if (!KNOWN.has(m.membership)) continue;
      const sender = senders.get(m.event_id);
      const room: ListedRoom = {
        roomId,
        membership: m.membership,
        membershipPosition: m.stream_position,
        membershipEventId: m.event_id,
        activity: m.stream_position,
      };
      all.set(roomId, room);
      if (m.membership === "join") joined.push(roomId);
      const had = from?.rooms[roomId]?.m;
      if (m.membership === "invite" && sender !== undefined && ignored.has(sender)) continue;
      if (m.membership === "leave" || m.membership === "ban") {
        const kicked = sender !== undefined && sender !== userId;
        if (!kicked && (had === undefined || had === "leave" || had === "ban")) continue;
      }
      listed.push(room);
    }
    const last = await this.lastPositions(userId, joined, to);
    for (const r of all.values())
      if (r.membership === "join") r.activity = Math.max(r.activity, last.get(r.roomId) ?? 0);
    return { listed, all };
  }

  /** Who sent each membership event (events never change: remembered). */
  private async sendersOf(eventIds: string[]): Promise<Map<string, string>> {
    const out = new Map<string, string>();
    const ask: string[] = [];
    for (const id of eventIds) {
      const s = this.senders.get(id);
      if (s === undefined) ask.push(id);
      else out.set(id, s);
    }
    for (const r of await this.rooms.reads.sync.eventsByIds(ask)) {
      out.set(r.event_id, r.sender);
      this.senders.set(r.event_id, r.sender);
      if (this.senders.size > MAX_SENDERS) this.senders.delete(this.senders.keys().next().value!);
    }
    return out;
  }

  /**
   * The newest event position of each joined room at or below `to`. Positions read for an earlier
   * `to` stay right for rooms the change index shows no write to since; the others are read again.
   */
  private async lastPositions(userId: string, roomIds: string[], to: number): Promise<Map<string, number>> {
    const cached = this.activity.get(userId);
    let ask = roomIds;
    if (cached && cached.asOf <= to && this.changes.covers(cached.asOf)) {
      const moved = new Set(this.changes.since(cached.asOf)?.roomsWith(roomIds, "room") ?? roomIds);
      ask = roomIds.filter((r) => moved.has(r) || !cached.byRoom.has(r));
    }
    // One process alone writes rooms: a room's snapshot then knows its newest position exactly
    // when no write to it is in flight (a write applies to the snapshot only once committed).
    if (!this.rooms.multiReplica && ask.length > 0 && ask.length <= SNAPSHOT_ASK_MAX) {
      const still: string[] = [];
      const known = new Map<string, number>();
      for (const r of ask) {
        const snap = await this.rooms.snapshot(r);
        if (snap && snap.inFlight === 0 && snap.lastPosition <= to) known.set(r, snap.lastPosition);
        else still.push(r);
      }
      if (still.length < ask.length) {
        for (const [r, p] of await this.rooms.reads.sync.lastPositions(still, to)) known.set(r, p);
        return this.remember(userId, roomIds, ask, known, cached, to);
      }
    }
    const fresh = await this.rooms.reads.sync.lastPositions(ask, to);
    return this.remember(userId, roomIds, ask, fresh, cached, to);
  }

  private remember(
    userId: string,
    roomIds: string[],
    ask: string[],
    fresh: Map<string, number>,
    cached: Activity | undefined,
    to: number,
  ): Map<string, number> {
    const byRoom = new Map<string, number>();
    for (const r of roomIds) {
      const p = fresh.get(r) ?? (ask === roomIds ? undefined : cached?.byRoom.get(r));
      if (p !== undefined) byRoom.set(r, p);
    }
    this.activity.delete(userId);
    this.activity.set(userId, { asOf: to, byRoom });
    if (this.activity.size > MAX_USERS) this.activity.delete(this.activity.keys().next().value!);
    return byRoom;
  }
}
