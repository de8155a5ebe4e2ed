import { CacheMetrics } from "../../../companion-services/platform/cache-metrics.ts";
import type { UserMembership } from "../storage/rows.ts";
import type { StateRepository } from "../storage/state.repository.ts";

const USER_CACHE_SIZE = 100_000;

/** Each user's rooms and membership, loaded on first use and kept current by every write here. */
export class UserRoomsCache {
  private readonly userRooms = new Map<string, Map<string, UserMembership>>();
  /** Bumped on each membership change, so a load that raced a write is not cached. */
  private readonly userVersions = new Map<string, number>();
  /** Users with a membership write in flight: their cached memberships may lag the stream. */
  private readonly pendingUsers = new Map<string, number>();
  private readonly metrics = new CacheMetrics("user_rooms");

  constructor(private readonly state: StateRepository) {}

  /**
   * The user's current membership in every room they have one in. With `consistent`, a reader
   * that fixed its window before calling gets every membership committed in it: while a
   * membership write for the user is in flight the database answers instead.
   */
  async membershipsOf(userId: string, opts: { consistent?: boolean } = {}): Promise<UserMembership[]> {
    // With other replicas, their membership writes drop the cached user (Notifier.onRemoteWrite)
    // before readers here may pass them, so the cache is as good as the database for any window.
    if (opts.consistent && this.pendingUsers.has(userId)) {
      return this.state.membershipsOf(userId);
    }
    const cached = this.userRooms.get(userId);
    if (cached) {
      this.metrics.hit();
      return [...cached.values()];
    }
    this.metrics.miss();
    const version = this.userVersions.get(userId) ?? 0;
    const rows = await this.state.membershipsOf(userId);
    if ((this.userVersions.get(userId) ?? 0) === version && !this.userRooms.has(userId)) {
      if (this.userRooms.size >= USER_CACHE_SIZE) {
        const oldest = this.userRooms.keys().next().value;
        if (oldest !== undefined) this.userRooms.delete(oldest);
      }
      this.userRooms.set(userId, new Map(rows.map((r) => [r.room_id, { ...r }])));
      this.metrics.sized(this.userRooms.size);
    }
    return rows;
  }

  /** A membership write for the user committed: `row` is now current. */
  note(userId: string, row: UserMembership): void {
    this.bump(userId);
    this.userRooms.get(userId)?.set(row.room_id, row);
  }

  /** The user forgot the room (the row stays: forget only hides it). */
  forgot(userId: string, roomId: string): void {
    const row = this.userRooms.get(userId)?.get(roomId);
    this.bump(userId);
    if (row) row.forgotten = true;
  }

  /** Drops a user's cached memberships (another replica changed one). */
  invalidate(userId: string): void {
    this.bump(userId);
    if (this.userRooms.delete(userId)) this.metrics.sized(this.userRooms.size);
  }

  /** Membership writes for these users started: consistent readers ask the database meanwhile. */
  writing(users: readonly string[]): void {
    for (const u of users) this.pendingUsers.set(u, (this.pendingUsers.get(u) ?? 0) + 1);
  }

  /** Those writes ended (committed and noted, or failed). */
  written(users: readonly string[]): void {
    for (const u of users) {
      const n = (this.pendingUsers.get(u) ?? 1) - 1;
      if (n <= 0) this.pendingUsers.delete(u);
      else this.pendingUsers.set(u, n);
    }
  }

  private bump(userId: string): void {
    this.userVersions.set(userId, (this.userVersions.get(userId) ?? 0) + 1);
  }
}
