import { CacheMetrics } from "../../../companion-services/platform/cache-metrics.ts";
import type { EventRow } from "../storage/rows.ts";

/** Newest events kept per room: a default timeline (10) plus the row that tells `limited`. */
const MAX_ROWS = 24;
/** Rooms kept; the least recently used go first. */
const MAX_ROOMS = 5_000;

/** A room's newest events, complete for the positions (from, to]. */
type Entry = { from: number; to: number; rows: EventRow[] };

/**
 * The newest events of recently active rooms, so that the deltas of a room's members (ten
 * sockets woken by one message) read them from memory instead of once per socket. An entry
 * is filled from a database read (which is complete for the window it read) and extended by
 * this process's own writes only when the write built on the entry's last position — the room's
 * head moved from there to the new event atomically, so nothing can be missing in between.
 * Anything that rewrites stored rows (a redaction) or writes elsewhere (another replica) drops
 * the room.
 */
export class RoomTimelineCache {
  private readonly rooms = new Map<string, Entry>();
  private readonly metrics = new CacheMetrics("timelines");

  /**
   * `lastChange(roomId, after)`: the last position a write touched the room at, if known for
   * every position after `after` (the change index), else null. An entry then also covers
   * (its end, any safe position] when nothing touched the room since its end: the room is quiet
   * while the stream moves on with other rooms' writes.
   */
  constructor(private readonly lastChange: (roomId: string, after: number) => number | null = () => null) {}

  /**
   * Up to `limit` newest rows in (since, to], newest first; null when the entry does not cover
   * that window (ask the database, then `put`).
   */
  get(roomId: string, since: number, to: number, limit: number): EventRow[] | null {
    const e = this.rooms.get(roomId);
    if (!e || since < e.from) {
      this.metrics.miss();
      return null;
    }
    if (to > e.to) {
      const last = this.lastChange(roomId, e.to);
      if (last === null || last > e.to) {
        this.metrics.miss();
        return null;
      }
      e.to = to;
    }
    this.metrics.hit();
    this.rooms.delete(roomId);
    this.rooms.set(roomId, e);
    const out: EventRow[] = [];
    for (let i = e.rows.length - 1; i >= 0 && out.length < limit; i--) {
      const r = e.rows[i]!;
      if (r.stream_position <= since) break;
      if (r.stream_position <= to) out.push(r);
    }
    return out;
  }

  /**
   * Rows a database read returned for (since, to] (newest first, at most `limit`): complete for
   * that window, or from the oldest returned row on when the read hit its limit.
   */
  put(roomId: string, since: number, to: number, newestFirst: readonly EventRow[], limit: number): void {
    const rows = [...newestFirst].reverse();
    const from = newestFirst.length >= limit ? rows[0]!.stream_position - 1 : since;
    const e = this.rooms.get(roomId);
    if (e && from <= e.to && to >= e.from) {
      // Overlapping windows: their union is complete.
      const byPosition = new Map<number, EventRow>();
      for (const r of e.rows) byPosition.set(r.stream_position, r);
      for (const r of rows) byPosition.set(r.stream_position, r);
      const merged = [...byPosition.values()].sort((a, b) => a.stream_position - b.stream_position);
      this.set(roomId, { from: Math.min(from, e.from), to: Math.max(to, e.to), rows: merged });
    } else if (!e || to > e.to) {
      this.set(roomId, { from, to, rows });
    }
  }

  /**
   * This process committed `rows` (oldest first) on top of the room's head `previousHead`: if the
   * entry covers that head, it now covers the new rows too.
   */
  append(roomId: string, previousHead: number, rows: readonly EventRow[]): void {
    const e = this.rooms.get(roomId);
    if (!e || rows.length === 0) return;
    const last = rows[rows.length - 1]!.stream_position;
    if (last <= e.to) return; // a read after the commit already has them
    if (e.to < previousHead) return; // a gap this process cannot vouch for
    this.set(roomId, { from: e.from, to: last, rows: [...e.rows, ...rows] });
  }

  drop(roomId: string): void {
    if (this.rooms.delete(roomId)) this.metrics.sized(this.rooms.size);
  }

  private set(roomId: string, e: Entry): void {
    if (e.rows.length > MAX_ROWS) {
      const cut = e.rows.length - MAX_ROWS;
      e = { from: e.rows[cut - 1]!.stream_position, to: e.to, rows: e.rows.slice(cut) };
    }
    this.rooms.delete(roomId);
    this.rooms.set(roomId, e);
    if (this.rooms.size > MAX_ROOMS) {
      const oldest = this.rooms.keys().next().value;
      if (oldest !== undefined) this.rooms.delete(oldest);
    }
    this.metrics.sized(this.rooms.size);
  }
}
