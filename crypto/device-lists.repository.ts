import { type Kysely, sql } from "kysely";
import type { CryptoTables } from "./tables.ts";

/** The device-list change log behind `device_lists` in /sync and /keys/changes. */
export class DeviceListsRepository {
  constructor(private readonly db: Kysely<CryptoTables>) {}

  /**
   * Records that `userIds`' device lists or cross-signing keys changed at `position`. With
   * `visibleTo`, only that user is told (user-signing keys, signatures of other users' keys).
   */
  async recordChange(
    db: Kysely<CryptoTables>,
    position: number,
    userIds: string[],
    visibleTo: string | null = null,
  ): Promise<void> {
    if (userIds.length === 0) return;
    await db
      .insertInto("device_list_changes")
      .values(userIds.map((u) => ({ position, user_id: u, visible_to: visibleTo })))
      .execute();
  }

  async recordMembership(
    db: Kysely<CryptoTables>,
    position: number,
    e: { roomId: string; userId: string; membership: string },
  ): Promise<void> {
    await db
      .insertInto("device_list_room_changes")
      .values({ position, room_id: e.roomId, user_id: e.userId, membership: e.membership })
      .execute();
  }

  /** Key changes in (from, to] that `viewer` may see, before the shared-room filter. */
  async changesBetween(
    from: number,
    to: number,
    viewer: string,
  ): Promise<{ userId: string; onlyForViewer: boolean }[]> {
    if (to <= from) return [];
    const rows = await sql<{ user_id: string; only: boolean }>`
      SELECT DISTINCT user_id, visible_to IS NOT NULL AS only FROM device_list_changes
      WHERE position > ${from} AND position <= ${to} AND (visible_to IS NULL OR visible_to = ${viewer})`.execute(
      this.db,
    );
    return rows.rows.map((r) => ({ userId: r.user_id, onlyForViewer: r.only }));
  }

  /** Membership changes in (from, to] in `roomIds` or of `userId` themself, oldest first. */
  async membershipsBetween(
    from: number,
    to: number,
    roomIds: string[],
    userId: string,
  ): Promise<{ roomId: string; userId: string; membership: string }[]> {
    if (to <= from) return [];
    const rows = await this.db
      .selectFrom("device_list_room_changes")
      .select(["room_id", "user_id", "membership"])
      .where("position", ">", from)
      .where("position", "<=", to)
      .where(sql<boolean>`(room_id = ANY(${roomIds}::text[]) OR user_id = ${userId})`)
      .orderBy("position")
      .execute();
    return rows.map((r) => ({ roomId: r.room_id, userId: r.user_id, membership: r.membership }));
  }
}
