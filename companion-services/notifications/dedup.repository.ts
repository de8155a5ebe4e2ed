import { type Kysely, sql, type Transaction } from "kysely";
import type { NotificationsTables } from "./tables.ts";

type Db = Kysely<NotificationsTables> | Transaction<NotificationsTables>;

/** All SQL on `notification_dedup`. */
export class DedupRepository {
  constructor(private readonly db: Kysely<NotificationsTables>) {}

  /**
   * Claims (user, key) for the window in one statement: a fresh key inserts, a key older than the
   * window is taken over, a younger one conflicts and updates nothing. True when this caller won,
   * so two racing deliveries of the same event cannot both notify.
   */
  async claim(trx: Db, userId: string, key: string, now: number, windowMs: number): Promise<boolean> {
    const r = await trx
      .insertInto("notification_dedup")
      .values({ user_id: userId, dedup_key: key, created_at: now })
      .onConflict((oc) =>
        oc
          .columns(["user_id", "dedup_key"])
          .doUpdateSet({ created_at: sql<number>`excluded.created_at` })
          .where("notification_dedup.created_at", "<=", now - windowMs),
      )
      .returning("created_at")
      .executeTakeFirst();
    return r !== undefined;
  }

  /** Deletes keys older than the window; returns how many. */
  async prune(before: number): Promise<number> {
    const r = await this.db
      .deleteFrom("notification_dedup")
      .where("created_at", "<", before)
      .executeTakeFirst();
    return Number(r.numDeletedRows);
  }
}
