import type { Logger } from "../../companion-services/platform/logger.ts";
import type { ConnectionState } from "./connection-state.ts";
import {
  ConnectionGone,
  type ConnectionKey,
  type ConnectionsRepository,
  type StoredPosition,
} from "./connections.repository.ts";

type Kept = StoredPosition & { baseSeq: number | null };
type Connection = { generation: string; positions: Kept[]; bytes: number };

export type NewPosition = {
  generation: string;
  seq: number;
  state: ConnectionState;
  requestHash: string;
  response: string;
};

/** Connections kept in memory (the most recently used), and roughly how many bytes they may hold. */
const MAX_CONNECTIONS = 10_000;
const MAX_BYTES = 64 * 1024 * 1024;
/** A rough size of one room's cursor in a position's state. */
const ROOM_CURSOR_BYTES = 120;

/**
 * The positions of sliding sync connections, in the database and — with one homeserver process
 * — in memory too, the database written behind. With one process every request of a connection
 * comes here, so memory is the truth and the write only has to land before a restart: it is
 * queued per connection (in order) and awaited on shutdown. A crash loses at most the last
 * position, which the client then sees as M_UNKNOWN_POS and restarts from, as after expiry.
 * With several replicas a connection's requests may reach any of them: every read and write
 * goes to the database, as the request's own commit.
 */
export class PositionStore {
  private readonly memory = new Map<string, Connection>();
  private readonly pending = new Map<string, Promise<void>>();
  private bytes = 0;

  constructor(
    private readonly repo: ConnectionsRepository,
    private readonly shared: () => boolean,
    private readonly logger: Logger,
  ) {}

  async positions(
    k: ConnectionKey,
    generation: string,
    seq: number,
  ): Promise<{ at: StoredPosition | null; answered: StoredPosition | null }> {
    const id = keyOf(k);
    if (!this.shared()) {
      const c = this.memory.get(id);
      if (c) {
        if (c.generation !== generation) return { at: null, answered: null };
        const at = c.positions.find((p) => p.seq === seq) ?? null;
        let answered: Kept | null = null;
        for (const p of c.positions) if (p.baseSeq === seq) answered = p;
        return { at, answered };
      }
      // Not in memory (evicted, or written before a restart): the database, once its writes landed.
      await this.pending.get(id);
    }
    return this.repo.positions(k, generation, seq);
  }

  async save(
    k: ConnectionKey,
    p: NewPosition,
    opts: { restart: boolean; usedSeq: number | null; now: number },
  ): Promise<void> {
    if (this.shared()) {
      await this.repo.save(k, p, opts);
      return;
    }
    const id = keyOf(k);
    const kept: Kept = { ...p, baseSeq: opts.restart ? null : opts.usedSeq };
    let c = this.memory.get(id);
    if (opts.restart || !c) {
      if (!opts.restart && !c) {
        // Known to the database only: check the generation there before building on it.
        await this.pending.get(id);
        const { at } = await this.repo.positions(k, p.generation, opts.usedSeq ?? -1);
        if (!at) throw new ConnectionGone();
        c = { generation: p.generation, positions: [{ ...at, baseSeq: null }], bytes: 0 };
      } else c = { generation: p.generation, positions: [], bytes: 0 };
    } else if (c.generation !== p.generation) throw new ConnectionGone();
    const used = opts.usedSeq;
    // The position the client used is confirmed: only a retry of the one before it would need
    // its response, and that one is gone.
    c.positions = opts.restart
      ? [kept]
      : [
          ...c.positions
            .filter((x) => x.seq === used || x.baseSeq === used)
            .map((x) => (x.seq === used ? { ...x, response: null } : x)),
          kept,
        ];
    this.drop(id);
    c.bytes = c.positions.reduce(
      (n, x) => n + (x.response?.length ?? 0) + Object.keys(x.state.rooms).length * ROOM_CURSOR_BYTES,
      0,
    );
    this.memory.set(id, c);
    this.bytes += c.bytes;
    this.evict();
    const write = (this.pending.get(id) ?? Promise.resolve())
      .then(() => this.repo.save(k, p, opts))
      .catch((err: unknown) => {
        // Lost only for a restart; the client would then get M_UNKNOWN_POS and start again.
        this.logger.warn({ err, connId: k.connId }, "sliding sync position not stored");
      });
    this.pending.set(id, write);
    void write.then(() => {
      if (this.pending.get(id) === write) this.pending.delete(id);
    });
  }

  /** A connection deleted (too many on the device, expired). */
  async forget(k: ConnectionKey): Promise<void> {
    const id = keyOf(k);
    this.drop(id);
    await this.pending.get(id);
    await this.repo.delete(k);
  }

  /** Shutdown: every queued write lands before the database closes. */
  async flush(): Promise<void> {
    while (this.pending.size > 0) await Promise.all([...this.pending.values()]);
  }

  /** Expiry runs on the database: forget what memory holds of connections gone there. */
  dropMemory(): void {
    this.memory.clear();
    this.bytes = 0;
  }

  private drop(id: string): void {
    const c = this.memory.get(id);
    if (!c) return;
    this.bytes -= c.bytes;
    this.memory.delete(id);
  }

  /** Least recently used first; a connection whose write has not landed stays (memory is its truth). */
  private evict(): void {
    for (const id of this.memory.keys()) {
      if (this.memory.size <= MAX_CONNECTIONS && this.bytes <= MAX_BYTES) return;
      if (!this.pending.has(id)) this.drop(id);
    }
  }
}

function keyOf(k: ConnectionKey): string {
  return `${k.userId}\u0000${k.deviceId}\u0000${k.connId}`;
}
