import { type Kysely, sql, type Transaction } from "kysely";

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
   */
  async write<T>(
    db: Kysely<unknown>,
    fn: (trx: Transaction<unknown>, position: number) => Promise<T>,
  ): Promise<{ result: T; position: number }> {
    let position = -1;
    try {
      const result = await db.transaction().execute(async (trx) => {
        position = await this.allocate(trx);
        return fn(trx, position);
      });
      return { result, position };
    } finally {
      if (position >= 0) this.finish(position);
    }
  }

  /** Allocates `count` positions in one round trip (batch writers); each must be finished. */
  async allocate(trx: Kysely<unknown>): Promise<number> {
    const floor = this.maxAllocated;
    this.pendingFloors.set(floor, (this.pendingFloors.get(floor) ?? 0) + 1);
    try {
      const r = await sql<{ p: number }>`SELECT nextval('stream_position_seq') AS p`.execute(trx);
      const p = Number(r.rows[0]!.p);
      this.inFlight.add(p);
      if (p > this.maxAllocated) this.maxAllocated = p;
      return p;
    } finally {
      const n = this.pendingFloors.get(floor)! - 1;
      if (n === 0) this.pendingFloors.delete(floor);
      else this.pendingFloors.set(floor, n);
    }
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
