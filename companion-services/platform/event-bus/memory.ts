import {
  type BusRecord,
  type DeliveredRecord,
  type EventBus,
  PublishError,
  type SubscribeOptions,
  type Subscription,
} from "../event-bus.ts";

const PARTITIONS = 4;
const MAX_BATCH = 500;
/** Consumed records kept per partition before the log is trimmed. */
const KEEP = 1_000;

type Log = { base: number; records: DeliveredRecord[] };
type Waiter = { upTo: number; resolve: () => void };

/**
 * The in-process bus of the all-in-one mode. A publish resolves only once every subscribed group
 * has handled the records, so an outbox row is marked published after its effects committed: a
 * crash in between republishes it (at least once), as with Kafka. Order holds per key.
 */
export class MemoryEventBus implements EventBus {
  readonly kind = "memory" as const;
  /** Like Kafka's message.max.bytes: a larger record is rejected, permanently. */
  private readonly maxRecordBytes: number;
  private readonly logs = new Map<string, Log[]>();
  private readonly groups = new Set<MemoryGroup>();
  private closed = false;

  constructor(options: { maxRecordBytes?: number } = {}) {
    this.maxRecordBytes = options.maxRecordBytes ?? 1024 * 1024;
  }

  async ensureTopics(topics: string[]): Promise<void> {
    for (const t of topics) this.log(t);
  }

  async publish(records: BusRecord[]): Promise<void> {
    if (this.closed) throw new PublishError("event bus closed", false);
    for (const r of records) {
      const size = Buffer.byteLength(r.value) + Buffer.byteLength(r.key);
      if (size > this.maxRecordBytes)
        throw new PublishError(
          `record of ${size} bytes exceeds ${this.maxRecordBytes} (MESSAGE_TOO_LARGE)`,
          true,
        );
    }
    const waits: Promise<void>[] = [];
    const touched = new Map<string, Map<number, number>>();
    for (const r of records) {
      const partition = partitionOf(r.key);
      const log = this.log(r.topic)[partition];
      const offset = log.base + log.records.length;
      log.records.push({ ...r, partition, offset: String(offset) });
      const byPartition = touched.get(r.topic) ?? new Map<number, number>();
      byPartition.set(partition, offset);
      touched.set(r.topic, byPartition);
    }
    for (const g of this.groups) {
      for (const [topic, parts] of touched) {
        if (!g.topics.includes(topic)) continue;
        for (const [partition, offset] of parts) waits.push(g.deliveredThrough(topic, partition, offset));
      }
    }
    await Promise.all(waits);
    this.trim();
  }

  async subscribe(options: SubscribeOptions): Promise<Subscription> {
    const group = new MemoryGroup(options);
    this.groups.add(group);
    for (const t of options.topics) group.start(t, this.log(t));
    return {
      close: async () => {
        this.groups.delete(group);
        await group.stop();
      },
    };
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const g of this.groups) await g.stop();
    this.groups.clear();
  }

  private log(topic: string): Log[] {
    let l = this.logs.get(topic);
    if (!l) {
      l = Array.from({ length: PARTITIONS }, () => ({ base: 0, records: [] }));
      this.logs.set(topic, l);
    }
    return l;
  }

  /** Drops records every current group has passed, keeping a tail for late `earliest` readers. */
  private trim(): void {
    for (const [topic, parts] of this.logs) {
      parts.forEach((log, partition) => {
        let min = log.base + log.records.length;
        for (const g of this.groups)
          if (g.topics.includes(topic)) min = Math.min(min, g.next(topic, partition));
        const drop = min - KEEP - log.base;
        if (drop > 0) {
          log.records.splice(0, drop);
          log.base += drop;
        }
      });
    }
  }
}

class MemoryGroup {
  readonly topics: string[];
  private readonly offsets = new Map<string, number>();
  private readonly waiters = new Map<string, Waiter[]>();
  private readonly wake = new Map<string, () => void>();
  private readonly loops: Promise<void>[] = [];
  private running = true;

  constructor(private readonly options: SubscribeOptions) {
    this.topics = options.topics;
  }

  next(topic: string, partition: number): number {
    return this.offsets.get(`${topic}/${partition}`) ?? 0;
  }

  start(topic: string, logs: Log[]): void {
    logs.forEach((log, partition) => {
      const k = `${topic}/${partition}`;
      this.offsets.set(k, this.options.from === "latest" ? log.base + log.records.length : log.base);
      this.loops.push(this.loop(k, log));
    });
  }

  deliveredThrough(topic: string, partition: number, offset: number): Promise<void> {
    const k = `${topic}/${partition}`;
    if ((this.offsets.get(k) ?? 0) > offset) return Promise.resolve();
    return new Promise((resolve) => {
      const list = this.waiters.get(k) ?? [];
      list.push({ upTo: offset, resolve });
      this.waiters.set(k, list);
      this.wake.get(k)?.();
    });
  }

  async stop(): Promise<void> {
    this.running = false;
    for (const w of this.wake.values()) w();
    await Promise.all(this.loops);
    // Publishers waiting on a stopped group are released: nobody will handle their records here.
    for (const list of this.waiters.values()) for (const w of list) w.resolve();
    this.waiters.clear();
  }

  private async loop(k: string, log: Log): Promise<void> {
    let backoff = 50;
    while (this.running) {
      const from = this.offsets.get(k) ?? 0;
      const end = log.base + log.records.length;
      if (from >= end) {
        await new Promise<void>((r) => this.wake.set(k, r));
        continue;
      }
      const start = Math.max(from, log.base);
      const batch = log.records.slice(start - log.base, start - log.base + MAX_BATCH);
      try {
        await this.options.handle(batch);
        backoff = 50;
      } catch {
        // The handler could not run (its database is down): retry the same batch later.
        await new Promise((r) => setTimeout(r, backoff));
        backoff = Math.min(backoff * 2, 5_000);
        continue;
      }
      const next = start + batch.length;
      this.offsets.set(k, next);
      const list = this.waiters.get(k);
      if (list) {
        const keep: Waiter[] = [];
        for (const w of list) (w.upTo < next ? w.resolve : () => keep.push(w))();
        this.waiters.set(k, keep);
      }
    }
  }
}

/** Same key → same partition (FNV-1a), like Kafka's key partitioning. */
function partitionOf(key: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) {
    h ^= key.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0) % PARTITIONS;
}
