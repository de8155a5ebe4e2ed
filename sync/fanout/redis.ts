import { createHash, randomUUID } from "node:crypto";
import type { Redis } from "ioredis";
import { z } from "zod";
import type { Logger } from "../../companion-services/platform/logger.ts";
import { newRedis } from "../../companion-services/platform/redis.ts";
import { ALL_KINDS, type StreamKind } from "../changes.ts";
import type { Fanout } from "../fanout.ts";
import type { Notifier, Touch } from "../notifier.ts";
import type { StreamPositions } from "../stream-positions.ts";

/** How often a replica announces its safe position even when nothing happens. */
export const HEARTBEAT_MS = 500;
/** A replica not heard from for this long is dead: its floor stops holding the others back. */
export const PEER_TIMEOUT_MS = 3_000;
/** At start, wait this long to hear every live replica before serving. */
const DISCOVERY_MS = 1_200;
/** At most this long for the others' floors to reach our starting position. */
const CATCH_UP_MS = 5_000;

/**
 * One message on the replicas' channel: the sender's local safe position `s`, its writes
 * committed since its last message `w` (position + what they touched), or `bye` on shutdown.
 */
const message = z.object({
  r: z.string().min(1).max(64),
  s: z.number().int().nonnegative(),
  w: z
    .array(
      z.object({
        p: z.number().int().positive(),
        u: z.array(z.string()).optional(),
        rm: z.array(z.string()).optional(),
        /** Stream kinds (absent: all); unknown ones from a newer replica count as all. */
        k: z.array(z.string()).optional(),
      }),
    )
    .optional(),
  /** Ephemeral changes (typing, presence) shared since the last message: topic and data. */
  e: z.array(z.object({ t: z.string().min(1).max(64), d: z.unknown() })).optional(),
  bye: z.literal(true).optional(),
});
type Message = z.infer<typeof message>;

export type RedisFanoutOptions = {
  url: string;
  /**
   * Replicas share a channel only if they share a database: the channel name is derived from the
   * messaging database's identity, so test servers on one Redis never mix their streams.
   */
  scope: string;
  streams: StreamPositions;
  notifier: Notifier;
  logger: Logger;
};

/**
 * Fan-out over Redis pub/sub. Every replica publishes, batched per event-loop turn, its committed
 * writes and its local safe position; every replica applies the others' writes to its Notifier
 * (no database poll per socket: a woken socket computes its one delta) and sets its readers'
 * bound to min(own safe, live peers' safe). See docs/sync-protocol.md §Replicas for why that
 * never skips a position committed late on another replica.
 */
export class RedisFanout implements Fanout {
  readonly replicaId = randomUUID();
  private readonly channel: string;
  private pub: Redis | null = null;
  private sub: Redis | null = null;
  private readonly peerState = new Map<string, { safe: number; seen: number }>();
  private outbox: NonNullable<Message["w"]> = [];
  private shared: { t: string; d: unknown }[] = [];
  private flushScheduled = false;
  private lastPublishedSafe = -1;
  private heartbeat: NodeJS.Timeout | null = null;
  private readonly unsubscribers: (() => void)[] = [];
  private closed = false;

  constructor(private readonly opts: RedisFanoutOptions) {
    this.channel = `nova:sync:${createHash("sha256").update(opts.scope).digest("hex").slice(0, 16)}`;
  }

  async start(): Promise<void> {
    const { streams, notifier } = this.opts;
    this.pub = newRedis(this.opts.url, { lazyConnect: true, maxRetriesPerRequest: 2 });
    this.sub = newRedis(this.opts.url, { lazyConnect: true });
    for (const c of [this.pub, this.sub])
      c.on("error", (err) => this.opts.logger.warn({ err }, "redis fan-out"));
    await Promise.all([this.pub.connect(), this.sub.connect()]);
    this.sub.on("message", (_channel: string, text: string) => this.onMessage(text));
    await this.sub.subscribe(this.channel);

    this.unsubscribers.push(
      notifier.onLocalWrite((position, touch) => {
        this.outbox.push(encodeTouch(position, touch));
        this.scheduleFlush();
      }),
      streams.onLocalAdvance(() => this.scheduleFlush()),
      notifier.onShareEphemeral((t, d) => {
        this.shared.push({ t, d });
        this.scheduleFlush();
      }),
    );
    this.heartbeat = setInterval(() => {
      this.expirePeers();
      this.lastPublishedSafe = -1;
      this.scheduleFlush();
    }, HEARTBEAT_MS);
    this.heartbeat.unref();
    this.scheduleFlush();

    // Hear every live replica before serving, then let their floors reach the position this
    // process started from (it read the sequence's last value, which may still be in flight there).
    await sleep(DISCOVERY_MS);
    const startedAt = streams.current();
    const deadline = Date.now() + CATCH_UP_MS;
    while (this.minPeerSafe() !== null && this.minPeerSafe()! < startedAt && Date.now() < deadline) {
      await sleep(20);
    }
    this.opts.logger.info({ replica: this.replicaId, peers: this.peers().length }, "redis fan-out ready");
  }

  peers(): string[] {
    return [...this.peerState.keys()];
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.heartbeat) clearInterval(this.heartbeat);
    for (const u of this.unsubscribers) u();
    try {
      await this.publish({ r: this.replicaId, s: this.opts.streams.currentLocal(), bye: true });
    } catch {
      // Redis gone: the others time us out instead.
    }
    this.sub?.disconnect();
    this.pub?.disconnect();
  }

  private scheduleFlush(): void {
    if (this.flushScheduled || this.closed) return;
    this.flushScheduled = true;
    setImmediate(() => {
      this.flushScheduled = false;
      const s = this.opts.streams.currentLocal();
      if (this.outbox.length === 0 && this.shared.length === 0 && s === this.lastPublishedSafe) return;
      const w = this.outbox;
      const e = this.shared;
      this.outbox = [];
      this.shared = [];
      this.lastPublishedSafe = s;
      this.publish({ r: this.replicaId, s, ...(w.length ? { w } : {}), ...(e.length ? { e } : {}) }).catch(
        (err: unknown) => this.opts.logger.warn({ err }, "redis fan-out publish failed"),
      );
    });
  }

  /** `publish` writes `r` first, so a message of ours starts with this. */
  private get ownPrefix(): string {
    return `{"r":${JSON.stringify(this.replicaId)},`;
  }

  private async publish(m: Message): Promise<void> {
    await this.pub?.publish(this.channel, JSON.stringify(m));
  }

  private onMessage(text: string): void {
    // Our own messages come back on the channel: skip them before parsing (see `publish`).
    if (text.startsWith(this.ownPrefix)) return;
    let m: Message;
    try {
      m = message.parse(JSON.parse(text));
    } catch {
      this.opts.logger.warn("malformed fan-out message ignored");
      return;
    }
    if (m.r === this.replicaId || this.closed) return;
    const { streams, notifier } = this.opts;
    if (m.bye) {
      this.peerState.delete(m.r);
      streams.setRemoteFloor(this.minPeerSafe());
      return;
    }
    const prev = this.peerState.get(m.r);
    this.peerState.set(m.r, { safe: Math.max(prev?.safe ?? 0, m.s), seen: Date.now() });
    // The peer's safe position was allocated: an idle replica adopts it as its own (and echoes
    // it), so idle replicas never hold the others back.
    streams.observeRemote(m.s);
    for (const w of m.w ?? []) {
      notifier.notifyRemote(w.p, { userIds: w.u ?? [], roomIds: w.rm ?? [], kinds: decodeKinds(w.k) });
    }
    streams.setRemoteFloor(this.minPeerSafe());
    for (const e of m.e ?? []) {
      try {
        notifier.receiveEphemeral(e.t, e.d);
      } catch (err) {
        this.opts.logger.warn({ err, topic: e.t }, "shared ephemeral change ignored");
      }
    }
  }

  private expirePeers(): void {
    const cutoff = Date.now() - PEER_TIMEOUT_MS;
    let changed = false;
    for (const [id, p] of this.peerState) {
      if (p.seen < cutoff) {
        this.peerState.delete(id);
        changed = true;
        this.opts.logger.warn({ replica: id }, "replica timed out; no longer waiting for its writes");
      }
    }
    if (changed) this.opts.streams.setRemoteFloor(this.minPeerSafe());
  }

  private minPeerSafe(): number | null {
    let min: number | null = null;
    for (const p of this.peerState.values()) if (min === null || p.safe < min) min = p.safe;
    return min;
  }
}

function encodeTouch(
  position: number,
  touch: Touch,
): { p: number; u?: string[]; rm?: string[]; k?: string[] } {
  const u = [...(touch.userIds ?? [])];
  const rm = [...(touch.roomIds ?? [])];
  return {
    p: position,
    ...(u.length ? { u } : {}),
    ...(rm.length ? { rm } : {}),
    ...(touch.kinds ? { k: [...touch.kinds] } : {}),
  };
}

function decodeKinds(k: string[] | undefined): readonly StreamKind[] | undefined {
  if (!k) return undefined;
  return k.every((x) => (ALL_KINDS as readonly string[]).includes(x)) ? (k as StreamKind[]) : undefined;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
