import { type Kysely, sql, type Transaction } from "kysely";

/**
 * Positions on the homeserver's one persisted stream (room events, state, receipts, account data,
 * to-device, device-list changes all share it). Writers take a position inside their transaction;
 * readers may only advance to the position below which every write has committed, so a write that
 * commits late with a low position is never skipped (DESIGN §5).
 *
 * Allocation goes through a database sequence so that several processes on one database get
 * distinct positions; within this process, `pendingAllocations` freezes the safe position while a
 * position is being fetched whose value is not yet known.
 */
export class StreamPositions {
  private readonly inFlight = new Set<number>();
  private pendingAllocations = 0;
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
    this.pendingAllocations++;
    try {
      const r = await sql<{ p: number }>`SELECT nextval('stream_position_seq') AS p`.execute(trx);
      const p = Number(r.rows[0]!.p);
      this.inFlight.add(p);
      if (p > this.maxAllocated) this.maxAllocated = p;
      return p;
    } finally {
      this.pendingAllocations--;
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
    if (this.pendingAllocations === 0) {
      let local = this.maxAllocated;
      for (const p of this.inFlight) if (p - 1 < local) local = p - 1;
      if (local > this.localSafe) {
        this.localSafe = local;
        for (const l of this.localListeners) l(local);
      }
    }
    const next = this.remoteFloor === null ? this.localSafe : Math.min(this.localSafe, this.remoteFloor);
    if (next > this.safe) {
      this.safe = next;
      for (const l of this.listeners) l(next);
    }
  }
}
