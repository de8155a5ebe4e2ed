import { type Kysely, sql, type Transaction } from "kysely";
import type { Touch } from "./changes.ts";

/** A touch, or a function working it out after the commit. */
export type LazyTouch = Touch | (() => Promise<Touch>);

/**
 * Positions on the homeserver's one persisted stream (room events, state, receipts, account data,
 * to-device, device-list changes all share it). Writers take a position inside their transaction;
 * readers may only advance to the position below which every write has committed, so a write that
 * commits late with a low position is never skipped (DESIGN §5).
 *
 * Allocation goes through a database sequence so that several processes on one database get
 * distinct positions; within this process, a position being fetched (value not yet known) holds
 * the safe position at the highest position known when its fetch began.
 */
export class StreamPositions {
  private readonly inFlight = new Set<number>();
  /**
   * Allocations whose `nextval` has not returned yet, by the highest position known when each
   * started: the value it returns is above that, so readers may still advance up to it. (Freezing
   * the safe position while any allocation is pending would stall readers for as long as writes
   * keep overlapping — i.e. forever under sustained load.)
   */
  private readonly pendingFloors = new Map<number, number>();
  private maxAllocated = 0;
  /** What this process guarantees: every position at or below it that it allocated has finished. */
  private localSafe = 0;
  /**
   * With several replicas: the minimum of the other live replicas' local safe positions (set by
   * cross-replica fan-out). Null with a single replica, where the local safe position is the answer.
   */
  private remoteFloor: number | null = null;
  private safe = 0;
  private readonly listeners = new Set<(position: number) => void>();
  private readonly localListeners = new Set<(position: number) => void>();
  private readonly commitListeners = new Set<(position: number, touch: Touch) => void>();
  private readonly unknownListeners = new Set<(position: number) => void>();

  constructor(private readonly db: Kysely<unknown>) {}

  /** Reads the highest position already used; call once at start after migrations. */
  async init(): Promise<void> {
    const r = await sql<{ last_value: number; is_called: boolean }>`
      SELECT last_value, is_called FROM stream_position_seq`.execute(this.db);
    const row = r.rows[0];
    const current = row?.is_called ? Number(row.last_value) : 0;
    this.maxAllocated = current;
    this.localSafe = current;
    this.safe = current;
  }

  /** The position readers may advance to: everything at or below it has committed. */
  current(): number {
    return this.safe;
  }

  /**
   * Runs `fn` in a transaction holding a fresh stream position. The position becomes visible to
   * readers only once this and every lower in-flight write have finished (committed or failed).
   * What `fn` says it touched (`touch`) is announced once the transaction commits and before the
   * position can become visible, so no reader can pass the write without its wake-up and its
   * entry in the change index. A touch that needs reads to work out (who shares a room with
   * whom) is given as a function, run after the commit: reads inside the transaction would wait
   * for it on a single-connection database.
   */
  async write<DB, T>(
    db: Kysely<DB>,
    fn: (trx: Transaction<DB>, position: number, touch: (t: LazyTouch) => void) => Promise<T>,
  ): Promise<{ result: T; position: number }> {
    let position = -1;
    try {
      const touches: LazyTouch[] = [];
      const result = await db.transaction().execute(async (trx) => {
        touches.length = 0;
        position = await this.allocate(trx);
        return fn(trx, position, (t) => touches.push(t));
      });
      await this.announce(position, touches);
      return { result, position };
    } finally {
      if (position >= 0) this.finish(position);
    }
  }

  /**
   * A write that is one SQL statement (atomic on its own, so no transaction): `count` positions
   * in one round trip, then `fn`'s statement in another — two round trips where a transaction
   * takes five. The positions stay in flight until the statement has finished; its touches are
   * announced, as in `write`, before any can become safe.
   */
  async writeStatement<T>(
    db: Kysely<unknown>,
    count: number,
    fn: (db: Kysely<unknown>, positions: number[], touch: (t: LazyTouch) => void) => Promise<T>,
  ): Promise<{ result: T; positions: number[] }> {
    let positions: number[] = [];
    try {
      positions = await this.allocateMany(db, count);
      const touches: LazyTouch[] = [];
      const result = await fn(db, positions, (t) => touches.push(t));
      await this.announce(positions[0]!, touches);
      return { result, positions };
    } finally {
      for (const p of positions) this.inFlight.delete(p);
      if (positions.length > 0) this.advance();
    }
  }

  /**
   * `count` fresh positions in one round trip, ascending, all in flight. While `nextval` is
   * outstanding its value is unknown, so readers may advance only up to the highest position
   * known when it started (pendingFloors).
   */
  private async allocateMany<DB>(db: Kysely<DB>, count: number): Promise<number[]> {
    const floor = this.maxAllocated;
    this.pendingFloors.set(floor, (this.pendingFloors.get(floor) ?? 0) + 1);
    try {
      const r = await sql<{
        p: number;
      }>`SELECT nextval('stream_position_seq') AS p FROM generate_series(1, ${count})`.execute(db);
      const ps = r.rows.map((x) => Number(x.p)).sort((a, b) => a - b);
      for (const p of ps) this.inFlight.add(p);
      const max = ps[ps.length - 1]!;
      if (max > this.maxAllocated) this.maxAllocated = max;
      return ps;
    } finally {
      const n = this.pendingFloors.get(floor)! - 1;
      if (n === 0) this.pendingFloors.delete(floor);
      else this.pendingFloors.set(floor, n);
    }
  }

  /** Works out lazy touches and announces them (see `write`). */
  private async announce(position: number, touches: readonly LazyTouch[]): Promise<void> {
    const resolved: Touch[] = [];
    for (const t of touches) {
      try {
        resolved.push(typeof t === "function" ? await t() : t);
      } catch {
        // Who it touched is unknown: no reader may skip this position on the change index's word.
        for (const l of this.unknownListeners) l(position);
      }
    }
    this.committed(position, resolved);
  }

  /** Announces a committed write (see `write`); for writers that allocate with `allocate`. */
  committed(position: number, touches: readonly Touch[]): void {
    for (const t of touches) for (const l of this.commitListeners) l(t.at ?? position, t);
  }

  /** Fires for a committed write whose touches could not be worked out. */
  onUnknownCommit(listener: (position: number) => void): () => void {
    this.unknownListeners.add(listener);
    return () => this.unknownListeners.delete(listener);
  }

  /** Fires for each touch of a committed write, before its position can become safe. */
  onCommit(listener: (position: number, touch: Touch) => void): () => void {
    this.commitListeners.add(listener);
    return () => this.commitListeners.delete(listener);
  }

  /** Allocates one position for a write in `trx`; it must be finished. */
  async allocate<DB>(trx: Kysely<DB>): Promise<number> {
    return (await this.allocateMany(trx, 1))[0]!;
  }

  /** Marks a position finished (after commit or rollback) and advances the safe position. */
  finish(position: number): void {
    this.inFlight.delete(position);
    this.advance();
  }

  /** Another replica committed up to `position` (cross-replica fan-out calls this). */
  observeRemote(position: number): void {
    if (position > this.maxAllocated) this.maxAllocated = position;
    this.advance();
  }

  /**
   * This process's own guarantee, which cross-replica fan-out publishes: it will never commit a
   * position at or below it in the future. Advances when its writes finish or when it observes
   * higher positions allocated elsewhere while it has nothing in flight.
   */
  currentLocal(): number {
    return this.localSafe;
  }

  /**
   * Sets the minimum of the other live replicas' local safe positions (null: no other replica).
   * Readers then advance only to min(local, remote floor), so a write still in flight on another
   * replica is never skipped.
   */
  setRemoteFloor(floor: number | null): void {
    this.remoteFloor = floor;
    this.advance();
  }

  onAdvance(listener: (position: number) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Fires when this process's own safe position advances (see `currentLocal`). */
  onLocalAdvance(listener: (position: number) => void): () => void {
    this.localListeners.add(listener);
    return () => this.localListeners.delete(listener);
  }

  private advance(): void {
    let local = this.maxAllocated;
    for (const p of this.inFlight) if (p - 1 < local) local = p - 1;
    for (const floor of this.pendingFloors.keys()) if (floor < local) local = floor;
    if (local > this.localSafe) {
      this.localSafe = local;
      for (const l of this.localListeners) l(local);
    }
    const next = this.remoteFloor === null ? this.localSafe : Math.min(this.localSafe, this.remoteFloor);
    if (next > this.safe) {
      this.safe = next;
      for (const l of this.listeners) l(next);
    }
  }
}
