import type { NovaContext } from "../context.ts";
import { SnapshotCache } from "./caches/snapshots.ts";
import { RoomTimelineCache } from "./caches/timelines.ts";
import { TxnIdCache } from "./caches/txn-ids.ts";
import { UserRoomsCache } from "./caches/user-rooms.ts";
import type { SigningKey } from "./event-hashing.ts";
import { type IgnoredUsersPort, NO_ONE } from "./ignored-users.ts";
import { NO_VERDICTS, type PushVerdictPort } from "./publish.ts";
import { RoomsRepository } from "./rooms.repository.ts";
import { loadOrCreateSigningKey } from "./signing-key-store.ts";
import type { RoomsDb } from "./tables.ts";

/**
 * What every verb of the rooms area shares: its storage and its caches. One per process; the
 * modules of write/, membership/ and read/ each hold it and nothing of one another's state.
 */
export class RoomsCore {
  readonly repo: RoomsRepository;
  readonly snapshots: SnapshotCache;
  readonly users: UserRoomsCache;
  /** Rooms' newest events, shared by the deltas of their members. */
  readonly timelines: RoomTimelineCache;
  readonly txnIds = new TxnIdCache();
  private keyPromise: Promise<SigningKey> | null = null;
  private ignoredSource: IgnoredUsersPort = async () => NO_ONE;
  /** Each recipient's push verdict on an event (server/client plugs its push rules in). */
  pushVerdict: PushVerdictPort = NO_VERDICTS;

  constructor(
    readonly ctx: NovaContext,
    db: RoomsDb,
  ) {
    this.repo = new RoomsRepository(db);
    this.snapshots = new SnapshotCache(this.repo);
    this.users = new UserRoomsCache(this.repo.state);
    const changes = ctx.notifier.changes;
    this.timelines = new RoomTimelineCache((roomId, after) =>
      changes.covers(after) ? changes.lastForRoom(roomId, "room") : null,
    );
  }

  /** Where `m.ignored_user_list` comes from (the client area plugs it in once mounted). */
  useIgnoredUsers(port: IgnoredUsersPort): void {
    this.ignoredSource = port;
  }

  ignoredBy(userId: string): Promise<ReadonlySet<string>> {
    return this.ignoredSource(userId);
  }

  /**
   * Several homeserver processes share the database (fan-out over Redis): in-memory views may lag
   * writes made elsewhere, so readers that must not miss anything ask the database.
   */
  get multiReplica(): boolean {
    return Boolean(this.ctx.config.redisUrl);
  }

  get serverName(): string {
    return this.ctx.config.serverName;
  }

  signingKey(): Promise<SigningKey> {
    if (!this.keyPromise) {
      this.keyPromise = loadOrCreateSigningKey(this.repo.conversations);
      this.keyPromise.catch(() => {
        this.keyPromise = null;
      });
    }
    return this.keyPromise;
  }

  /** Drops a room's cached state and timeline (another replica wrote it); the next use reloads it. */
  invalidateRoom(roomId: string): void {
    this.snapshots.invalidate(roomId);
    this.timelines.drop(roomId);
  }
}
