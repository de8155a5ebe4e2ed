/**
 * What a persisted write changed, by stream kind: which sync providers have something to read for
 * whom. A touch without kinds counts as every kind.
 */
export type StreamKind =
  /** Room events, state and memberships (the rooms stream; membership changes touch the target user). */
  | "room"
  /** Read receipts (public ones touch the room, private ones only their user). */
  | "receipt"
  /** Global and per-room account data, push rules, read markers. */
  | "account_data"
  /** A device's to-device inbox. */
  | "to_device"
  /** Device-list changes seen by the touched users (keys, devices, shared-room memberships). */
  | "device_list";

export const ALL_KINDS: readonly StreamKind[] = [
  "room",
  "receipt",
  "account_data",
  "to_device",
  "device_list",
];

/** What one write touched: the users and rooms whose syncing devices should see it, and how. */
export type Touch = {
  userIds?: Iterable<string>;
  roomIds?: Iterable<string>;
  /** Which streams it changed; absent: all of them. */
  kinds?: readonly StreamKind[];
  /**
   * The position this part of the write was stored at, when the write took more than one (group
   * commits): readers may stop between a write's positions, so each part is recorded at its own.
   */
  at?: number;
};

type Last = Partial<Record<StreamKind, number>>;

/** Entries kept before the index forgets everything and starts again from its newest position. */
const MAX_KEYS = 500_000;

/**
 * The last stream position at which each kind touched each user and each room, for every write
 * this process learned of (its own, and other replicas' through fan-out). Writes record here
 * before their position becomes safe to read (StreamPositions.onCommit), so for a window
 * (since, to] with `since` at or above `floor`, "no entry after since" means "nothing to read":
 * a sync provider can answer without asking the database.
 */
export class ChangeIndex {
  private byUser = new Map<string, Last>();
  private byRoom = new Map<string, Last>();
  private newest: number;

  /** Windows starting below this are unknown here (before this process started, or pruned). */
  floor: number;

  constructor(start: number) {
    this.floor = start;
    this.newest = start;
  }

  record(position: number, touch: Touch): void {
    const kinds = touch.kinds ?? ALL_KINDS;
    if (position > this.newest) this.newest = position;
    for (const u of touch.userIds ?? []) bump(this.byUser, u, kinds, position);
    for (const r of touch.roomIds ?? []) bump(this.byRoom, r, kinds, position);
    if (this.byUser.size + this.byRoom.size > MAX_KEYS) {
      this.byUser = new Map();
      this.byRoom = new Map();
      this.floor = this.newest;
    }
  }

  /** A write at `position` touched something unknown: windows including it are not answered here. */
  forget(position: number): void {
    if (position > this.floor) this.floor = position;
    if (position > this.newest) this.newest = position;
  }

  /** Whether the window starting at `since` can be answered from this index. */
  covers(since: number): boolean {
    return since >= this.floor;
  }

  /** Last position at which `kind` touched the user (-1: not since the floor). */
  lastForUser(userId: string, kind: StreamKind): number {
    return this.byUser.get(userId)?.[kind] ?? -1;
  }

  lastForRoom(roomId: string, kind: StreamKind): number {
    return this.byRoom.get(roomId)?.[kind] ?? -1;
  }

  /** A view of what changed after `since` (null when the index does not cover it). */
  since(since: number): ChangesSince | null {
    if (!this.covers(since)) return null;
    return {
      forUser: (userId, kind) => this.lastForUser(userId, kind) > since,
      roomsWith: (roomIds, kind) => roomIds.filter((r) => this.lastForRoom(r, kind) > since),
    };
  }
}

/** What changed after a sync window's start: providers skip reads whose kind did not move. */
export type ChangesSince = {
  forUser(userId: string, kind: StreamKind): boolean;
  roomsWith(roomIds: readonly string[], kind: StreamKind): string[];
};

function bump(map: Map<string, Last>, key: string, kinds: readonly StreamKind[], position: number): void {
  let last = map.get(key);
  if (!last) {
    last = {};
    map.set(key, last);
  }
  for (const k of kinds) if ((last[k] ?? -1) < position) last[k] = position;
}

/**
 * Per-user reads kept while the change index shows no write of `kind` to the user since the read
 * began. A read started at safe position S sees every write at or below S; any write it missed
 * has a higher position and records its touch before readers can pass it.
 */
export class ChangeGuardedCache<V> {
  private readonly entries = new Map<string, { asOf: number; value: V }>();

  constructor(
    private readonly index: ChangeIndex,
    private readonly current: () => number,
    private readonly kind: StreamKind,
    private readonly maxEntries = 50_000,
  ) {}

  async get(userId: string, load: () => Promise<V>): Promise<V> {
    const e = this.entries.get(userId);
    if (e && this.index.covers(e.asOf) && this.index.lastForUser(userId, this.kind) <= e.asOf) return e.value;
    const asOf = this.current();
    const value = await load();
    this.entries.delete(userId);
    this.entries.set(userId, { asOf, value });
    if (this.entries.size > this.maxEntries) {
      const oldest = this.entries.keys().next().value;
      if (oldest !== undefined) this.entries.delete(oldest);
    }
    return value;
  }
}
