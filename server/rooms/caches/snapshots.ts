import { CacheMetrics } from "../../../companion-services/platform/cache-metrics.ts";
import { normalizeRow } from "../client-events.ts";
import type { Pdu, StoredEvent } from "../events.ts";
import { KeyedMutex, RoomSnapshot } from "../room-snapshot.ts";
import { isSupportedRoomVersion } from "../room-versions.ts";
import type { RoomsRepository } from "../rooms.repository.ts";
import type { EventRow } from "../storage/rows.ts";
import type { RoomsExecutor } from "../tables.ts";

/** Rooms whose current state stays in memory (a few KB each). */
const MAX_SNAPSHOTS = 20_000;
/** Rooms loaded per statement by `warm`. */
const WARM_CHUNK = 500;

function snapshotOf(
  roomId: string,
  roomVersion: ConstructorParameters<typeof RoomSnapshot>[1],
  head: number,
  stateRows: EventRow[],
  last: { event_id: string; depth: number } | null,
  lastRelation: number,
): RoomSnapshot {
  const state = new Map<string, StoredEvent>();
  for (const r of stateRows.map(normalizeRow)) {
    const pdu = JSON.parse(r.pdu) as Pdu;
    state.set(`${pdu.type}\u0000${pdu.state_key}`, { eventId: r.event_id, pdu, position: r.stream_position });
  }
  const snap = new RoomSnapshot(roomId, roomVersion, state, last?.event_id ?? null, last?.depth ?? 0, head);
  snap.lastRelation = lastRelation;
  return snap;
}

/**
 * Rooms' current state in memory, loaded on first use, and the per-room lock every write of a
 * room runs under (a locked room is never evicted).
 */
export class SnapshotCache {
  private readonly snapshots = new Map<string, RoomSnapshot>();
  private readonly loading = new Map<string, Promise<RoomSnapshot | null>>();
  /** Bumped when a room's cached state is dropped, so a load that raced the drop is not kept. */
  private readonly roomGenerations = new Map<string, number>();
  readonly locks = new KeyedMutex();
  private readonly metrics = new CacheMetrics("snapshots");

  constructor(private readonly repo: RoomsRepository) {}

  /** The room's cached current state, loaded on first use; null for an unknown room. */
  async get(roomId: string): Promise<RoomSnapshot | null> {
    const cached = this.snapshots.get(roomId);
    if (cached) {
      this.metrics.hit();
      // Most recently used last, so eviction takes the coldest rooms.
      this.snapshots.delete(roomId);
      this.snapshots.set(roomId, cached);
      return cached;
    }
    this.metrics.miss();
    let p = this.loading.get(roomId);
    if (!p) {
      p = this.load(roomId).finally(() => this.loading.delete(roomId));
      this.loading.set(roomId, p);
    }
    return p;
  }

  /** The cached snapshot if there is one (no load, no recency bump). */
  peek(roomId: string): RoomSnapshot | undefined {
    return this.snapshots.get(roomId);
  }

  private async load(roomId: string): Promise<RoomSnapshot | null> {
    const generation = this.roomGenerations.get(roomId) ?? 0;
    const snap = await this.loadFrom(this.repo.db, roomId);
    if (!snap) return null;
    // A write may have cached a newer snapshot while this one loaded.
    const existing = this.snapshots.get(roomId);
    if (existing) return existing;
    // Invalidated while loading (a remote write): serve it once, do not keep it.
    if ((this.roomGenerations.get(roomId) ?? 0) !== generation) return snap;
    this.put(roomId, snap);
    return snap;
  }

  /** Reads a room's current state and head (on `db`: the pool, or a transaction holding the room). */
  async loadFrom(db: RoomsExecutor, roomId: string): Promise<RoomSnapshot | null> {
    const conv = await this.repo.conversations.getConversation(roomId, db);
    if (!conv || !isSupportedRoomVersion(conv.room_version)) return null;
    const head = Number(conv.head_position);
    const [stateRows, last, lastRelation] = await Promise.all([
      this.repo.state.currentState(roomId, db),
      this.repo.events.eventAt(roomId, head, db),
      this.repo.relations.lastRelationPosition(roomId, db),
    ]);
    return snapshotOf(roomId, conv.room_version, head, stateRows, last, lastRelation);
  }

  /**
   * Loads the rooms not in memory yet in four statements per chunk, whatever their number, where
   * `get` would take four per room: an initial sync after a restart asks about every room of the
   * user. Rooms being loaded or written meanwhile keep what `get` or the write put.
   */
  async warm(roomIds: readonly string[]): Promise<void> {
    const missing = [...new Set(roomIds)].filter((id) => !this.snapshots.has(id) && !this.loading.has(id));
    const chunks: string[][] = [];
    for (let i = 0; i < missing.length; i += WARM_CHUNK) chunks.push(missing.slice(i, i + WARM_CHUNK));
    // Chunks are independent: on PostgreSQL their statements run side by side on the pool.
    await Promise.all(chunks.map((chunk) => this.warmChunk(chunk)));
  }

  private async warmChunk(chunk: string[]): Promise<void> {
    const generations = new Map(chunk.map((id) => [id, this.roomGenerations.get(id) ?? 0]));
    const convs = [];
    for (const c of await this.repo.conversations.getConversations(chunk)) {
      const version = c.room_version;
      if (isSupportedRoomVersion(version)) convs.push({ ...c, room_version: version });
    }
    const ids = convs.map((c) => c.room_id);
    const [states, lasts, relations] = await Promise.all([
      this.repo.state.currentStateMany(ids),
      this.repo.events.eventsAt(convs.map((c) => ({ roomId: c.room_id, position: Number(c.head_position) }))),
      this.repo.relations.lastRelationPositions(ids),
    ]);
    for (const c of convs) {
      const id = c.room_id;
      if (this.snapshots.has(id) || this.loading.has(id)) continue;
      if ((this.roomGenerations.get(id) ?? 0) !== generations.get(id)) continue;
      const snap = snapshotOf(
        id,
        c.room_version,
        Number(c.head_position),
        states.get(id) ?? [],
        lasts.get(id) ?? null,
        relations.get(id) ?? 0,
      );
      this.put(id, snap);
    }
  }

  /** Whether the room's head in the database is past `head` (another process wrote the room). */
  async headMoved(roomId: string, head: number): Promise<boolean> {
    const conv = await this.repo.conversations.getConversation(roomId);
    return conv !== null && Number(conv.head_position) !== head;
  }

  /** Drops a room's cached state; the next use reloads it. */
  invalidate(roomId: string): void {
    this.roomGenerations.set(roomId, (this.roomGenerations.get(roomId) ?? 0) + 1);
    this.snapshots.delete(roomId);
    this.loading.delete(roomId);
    this.metrics.sized(this.snapshots.size);
  }

  /**
   * Keeps at most MAX_SNAPSHOTS rooms in memory. A room being written (locked or with a write in
   * flight) is never evicted; an evicted room reloads from the database, which holds every commit.
   */
  put(roomId: string, snap: RoomSnapshot): void {
    this.snapshots.set(roomId, snap);
    if (this.snapshots.size > MAX_SNAPSHOTS) {
      let excess = this.snapshots.size - Math.floor(MAX_SNAPSHOTS * 0.9);
      for (const [id, s] of this.snapshots) {
        if (excess <= 0) break;
        if (s.inFlight > 0 || this.locks.isLocked(id)) continue;
        this.snapshots.delete(id);
        excess--;
      }
    }
    this.metrics.sized(this.snapshots.size);
  }
}
