import { type Kysely, type Selectable, sql, type Transaction } from "kysely";
import { pairsTable, unreadOfPair } from "./notifications.repository.ts";
import type { NotificationsTables } from "./tables.ts";

type Db = Kysely<NotificationsTables> | Transaction<NotificationsTables>;

export type PusherRow = Selectable<NotificationsTables["push_tokens"]>;

/** A pusher as `/pushers/set` gives it, with the device whose token set it. */
export type PusherWrite = {
  userId: string;
  deviceId: string | null;
  appId: string;
  pushkey: string;
  kind: "http";
  appDisplayName: string;
  deviceDisplayName: string;
  profileTag: string | null;
  lang: string;
  data: Record<string, unknown>;
};

/** Where one user's deliveries go. */
export type PusherTarget = { appId: string; pushkey: string };

/** All SQL on `push_tokens` (the Matrix pushers). */
export class PushersRepository {
  constructor(private readonly db: Kysely<NotificationsTables>) {}

  listFor(userId: string): Promise<PusherRow[]> {
    return this.db
      .selectFrom("push_tokens")
      .selectAll()
      .where("user_id", "=", userId)
      .orderBy("created_at")
      .orderBy("app_id")
      .orderBy("pushkey")
      .execute();
  }

  /** The users' http pushers: email pushers are never stored, but the column allows them. */
  async targetsOf(db: Db, userIds: string[]): Promise<Map<string, PusherTarget[]>> {
    if (userIds.length === 0) return new Map();
    const rows = await db
      .selectFrom("push_tokens")
      .select(["user_id", "app_id", "pushkey"])
      .where("user_id", "in", [...new Set(userIds)])
      .where("kind", "=", "http")
      .execute();
    return byUserOf(rows);
  }

  /**
   * `targetsOf` the users for whom one of these (user, room) pairs holds no unread notification
   * any more (their badge dropped, rule on NotificationsService), in one statement: finding the
   * emptied rooms and the pushers together means a user without a pusher, most of a room's
   * senders, costs nothing more.
   */
  async targetsOfEmptied(
    db: Db,
    pairs: { userId: string; roomId: string }[],
  ): Promise<Map<string, PusherTarget[]>> {
    if (pairs.length === 0) return new Map();
    const rows = await db
      .selectFrom(pairsTable(pairs))
      .innerJoin("push_tokens as t", "t.user_id", "v.user_id")
      .select(["t.user_id", "t.app_id", "t.pushkey"])
      // Two emptied rooms of one user are still one badge update per pusher.
      .distinct()
      .where("t.kind", "=", "http")
      .where((eb) => eb.not(eb.exists(unreadOfPair(eb))))
      .orderBy("t.user_id")
      .orderBy("t.app_id")
      .orderBy("t.pushkey")
      .execute();
    return byUserOf(rows);
  }

  /**
   * Inserts or replaces (app_id, pushkey, user). The device becomes the one that set it last: the
   * pusher then goes with that token's device. `failing_since` restarts, as the gateway may have changed.
   */
  async upsert(trx: Db, p: PusherWrite, now: number): Promise<void> {
    const values = {
      kind: p.kind,
      device_id: p.deviceId,
      app_display_name: p.appDisplayName,
      device_display_name: p.deviceDisplayName,
      profile_tag: p.profileTag,
      lang: p.lang,
      data: sql<Record<string, unknown>>`${JSON.stringify(p.data)}::jsonb`,
    };
    await trx
      .insertInto("push_tokens")
      .values({ user_id: p.userId, app_id: p.appId, pushkey: p.pushkey, created_at: now, ...values })
      .onConflict((oc) =>
        oc.columns(["app_id", "pushkey", "user_id"]).doUpdateSet({ ...values, failing_since: null }),
      )
      .execute();
  }

  async deleteOne(trx: Db, userId: string, appId: string, pushkey: string): Promise<number> {
    const r = await trx
      .deleteFrom("push_tokens")
      .where("user_id", "=", userId)
      .where("app_id", "=", appId)
      .where("pushkey", "=", pushkey)
      .executeTakeFirst();
    return Number(r.numDeletedRows);
  }

  /** `append: false`: the same (app_id, pushkey) held by anyone else goes. */
  async deleteOthers(trx: Db, appId: string, pushkey: string, notUserId: string): Promise<number> {
    const r = await trx
      .deleteFrom("push_tokens")
      .where("app_id", "=", appId)
      .where("pushkey", "=", pushkey)
      .where("user_id", "<>", notUserId)
      .executeTakeFirst();
    return Number(r.numDeletedRows);
  }

  async deleteForDevice(trx: Db, userId: string, deviceId: string): Promise<number> {
    const r = await trx
      .deleteFrom("push_tokens")
      .where("user_id", "=", userId)
      .where("device_id", "=", deviceId)
      .executeTakeFirst();
    return Number(r.numDeletedRows);
  }

  async deleteForUser(trx: Db, userId: string): Promise<number> {
    const r = await trx.deleteFrom("push_tokens").where("user_id", "=", userId).executeTakeFirst();
    return Number(r.numDeletedRows);
  }
}

/** Pusher rows grouped by user, in row order. */
function byUserOf(rows: { user_id: string; app_id: string; pushkey: string }[]): Map<string, PusherTarget[]> {
  const byUser = new Map<string, PusherTarget[]>();
  for (const r of rows) {
    const list = byUser.get(r.user_id) ?? [];
    list.push({ appId: r.app_id, pushkey: r.pushkey });
    byUser.set(r.user_id, list);
  }
  return byUser;
}
