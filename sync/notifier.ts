import { ChangeIndex, type Touch } from "./changes.ts";
import type { StreamPositions } from "./stream-positions.ts";

export type { Touch } from "./changes.ts";

type Waiter = { wake: () => void; userId: string; roomIds: ReadonlySet<string> };

/**
 * Wakes long-polling syncs (and WebSocket pushers) when something they can see has committed.
 * A write's wake-up is held back until the safe stream position covers it, so a woken reader always
 * finds the write it was woken for.
 */
export class Notifier {
  private readonly byUser = new Map<string, Set<Waiter>>();
  private readonly byRoom = new Map<string, Set<Waiter>>();
  private pending: { position: number; touch: Touch }[] = [];
  private readonly remoteListeners = new Set<(position: number, touch: Touch) => void>();
  private readonly remoteWriteListeners = new Set<(position: number, touch: Touch) => void>();
  private readonly sharedListeners = new Set<(topic: string, data: unknown) => void>();
  private readonly ephemeralHandlers = new Map<string, (data: unknown) => void>();

  /** What each write touched, by kind: lets sync providers skip streams that did not move. */
  readonly changes: ChangeIndex;

  constructor(private readonly streams: StreamPositions) {
    this.changes = new ChangeIndex(streams.current());
    streams.onAdvance((safe) => this.release(safe));
    streams.onCommit((position, touch) => this.notify(position, touch));
    streams.onUnknownCommit((position) => this.changes.forget(position));
  }

  /**
   * A persisted write at `position` touched these users/rooms. Writes through `streams.write`
   * are announced by their touches; call this only for a position that is still in flight.
   */
  notify(position: number, touch: Touch): void {
    this.changes.record(position, touch);
    for (const l of this.remoteListeners) l(position, touch);
    if (position <= this.streams.current()) this.wakeMatching(touch);
    else this.pending.push({ position, touch });
  }

  /** An ephemeral change (typing, presence) that needs no stream position. */
  notifyEphemeral(touch: Touch): void {
    this.wakeMatching(touch);
  }

  /**
   * An ephemeral change made here (typing, presence) that the other replicas must apply too: they
   * keep their own in-memory copy and wake their own sockets. Without fan-out it goes nowhere.
   */
  shareEphemeral(topic: string, data: unknown): void {
    for (const l of this.sharedListeners) l(topic, data);
  }

  /** Cross-replica fan-out subscribes here to forward shared ephemeral changes. */
  onShareEphemeral(listener: (topic: string, data: unknown) => void): () => void {
    this.sharedListeners.add(listener);
    return () => this.sharedListeners.delete(listener);
  }

  /** The area owning `topic` applies what another replica shared (validating `data` itself). */
  handleEphemeral(topic: string, handler: (data: unknown) => void): void {
    this.ephemeralHandlers.set(topic, handler);
  }

  /** Another replica shared an ephemeral change. */
  receiveEphemeral(topic: string, data: unknown): void {
    this.ephemeralHandlers.get(topic)?.(data);
  }

  /** Cross-replica fan-out subscribes here to forward local writes to other replicas. */
  onLocalWrite(listener: (position: number, touch: Touch) => void): () => void {
    this.remoteListeners.add(listener);
    return () => this.remoteListeners.delete(listener);
  }

  /**
   * Areas that cache what writes change (room state, memberships) subscribe here: a write
   * committed on another replica touched these rooms/users, so their cached view is stale. Called
   * before any reader here is woken for that write.
   */
  onRemoteWrite(listener: (position: number, touch: Touch) => void): () => void {
    this.remoteWriteListeners.add(listener);
    return () => this.remoteWriteListeners.delete(listener);
  }

  /** A write committed on another replica: make it visible and wake its readers here. */
  notifyRemote(position: number, touch: Touch): void {
    this.changes.record(position, touch);
    for (const l of this.remoteWriteListeners) l(position, touch);
    this.pending.push({ position, touch });
    this.streams.observeRemote(position);
    this.release(this.streams.current());
  }

  /**
   * Registers a waiter for `userId` in `roomIds`; resolves when something touching them commits,
   * on timeout (none if `timeoutMs` is Infinity), or when `abort` resolves. Returns true if it was
   * woken by a change.
   */
  wait(
    userId: string,
    roomIds: Iterable<string>,
    timeoutMs: number,
    abort?: Promise<void>,
  ): Promise<boolean> {
    return new Promise((resolve) => {
      let done = false;
      const rooms = new Set(roomIds);
      const finish = (woken: boolean) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        removeFrom(this.byUser, userId, waiter);
        for (const r of rooms) removeFrom(this.byRoom, r, waiter);
        resolve(woken);
      };
      const waiter: Waiter = { wake: () => finish(true), userId, roomIds: rooms };
      // No timer for an unbounded wait (WebSocket pushers): an idle socket then costs no Timeout.
      const timer = Number.isFinite(timeoutMs)
        ? setTimeout(() => finish(false), Math.max(0, timeoutMs))
        : undefined;
      addTo(this.byUser, userId, waiter);
      for (const r of rooms) addTo(this.byRoom, r, waiter);
      abort?.then(() => finish(false));
    });
  }

  /**
   * A standing registration (WebSocket pushers): `target.wake()` runs for every committed write
   * or ephemeral change touching the user or one of the rooms, until closed. Unlike `wait`,
   * nothing that happens while the caller is busy is missed. One small object per socket.
   */
  subscribe(userId: string, roomIds: Iterable<string>, target: { wake(): void }): StandingWaiter {
    return new StandingWaiter(this.byUser, this.byRoom, userId, roomIds, target);
  }

  /** Number of registered waiters (metrics, tests). */
  size(): number {
    let n = 0;
    for (const s of this.byUser.values()) n += s.size;
    return n;
  }

  private release(safe: number): void {
    if (this.pending.length === 0) return;
    const ready = this.pending.filter((p) => p.position <= safe);
    if (ready.length === 0) return;
    this.pending = this.pending.filter((p) => p.position > safe);
    for (const p of ready) this.wakeMatching(p.touch);
  }

  private wakeMatching(touch: Touch): void {
    const toWake = new Set<Waiter>();
    for (const u of touch.userIds ?? []) for (const w of this.byUser.get(u) ?? []) toWake.add(w);
    for (const r of touch.roomIds ?? []) for (const w of this.byRoom.get(r) ?? []) toWake.add(w);
    for (const w of toWake) w.wake();
  }
}

const NO_ROOMS: ReadonlySet<string> = new Set();

/** See Notifier.subscribe. */
export class StandingWaiter implements Waiter {
  roomIds: ReadonlySet<string>;
  private closed = false;

  constructor(
    private readonly byUser: Map<string, Set<Waiter>>,
    private readonly byRoom: Map<string, Set<Waiter>>,
    readonly userId: string,
    roomIds: Iterable<string>,
    private readonly target: { wake(): void },
  ) {
    const rooms = new Set(roomIds);
    this.roomIds = rooms.size > 0 ? rooms : NO_ROOMS;
    addTo(byUser, userId, this);
    for (const r of this.roomIds) addTo(byRoom, r, this);
  }

  wake(): void {
    this.target.wake();
  }

  setRooms(roomIds: Iterable<string>): void {
    if (this.closed) return;
    const next = new Set(roomIds);
    for (const r of this.roomIds) if (!next.has(r)) removeFrom(this.byRoom, r, this);
    for (const r of next) if (!this.roomIds.has(r)) addTo(this.byRoom, r, this);
    this.roomIds = next.size > 0 ? next : NO_ROOMS;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    removeFrom(this.byUser, this.userId, this);
    for (const r of this.roomIds) removeFrom(this.byRoom, r, this);
  }
}

function removeFrom(map: Map<string, Set<Waiter>>, key: string, w: Waiter): void {
  const s = map.get(key);
  if (!s) return;
  s.delete(w);
  if (s.size === 0) map.delete(key);
}

function addTo(map: Map<string, Set<Waiter>>, key: string, w: Waiter): void {
  let s = map.get(key);
  if (!s) {
    s = new Set();
    map.set(key, s);
  }
  s.add(w);
}
