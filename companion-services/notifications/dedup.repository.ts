import { type Kysely, sql, type Transaction } from "kysely";
import { pairKey } from "./preferences.repository.ts";
import type { NotificationsTables } from "./tables.ts";

type Db = Kysely<NotificationsTables> | Transaction<NotificationsTables>;

/** All SQL on `notification_dedup`. */
export class DedupRepository {
  constructor(private readonly db: Kysely<NotificationsTables>) {}

  /**
   * Claims (user, key) pairs for the window in one statement: a fresh key inserts, a key older
   * than the window is taken over, a younger one conflicts and updates nothing. Returns the pairs
   * this caller won (as `pairKey`s), so two racing deliveries of one event cannot both notify.
   */
  async claim(
    trx: Db,
    pairs: { userId: string; key: string }[],
    now: number,
    windowMs: number,
  ): Promise<Set<string>> {
    // ON CONFLICT DO UPDATE may not touch one row twice in a statement.
    const unique = new Map(pairs.map((p) => [pairKey(p.userId, p.key), p]));
    if (unique.size === 0) return new Set();
    const rows = await trx
      .insertInto("notification_dedup")
      .values([...unique.values()].map((p) => ({ user_id: p.userId, dedup_key: p.key, created_at: now })))
      .onConflict((oc) =>
        oc
          .columns(["user_id", "dedup_key"])
          .doUpdateSet({ created_at: sql<number>`excluded.created_at` })
          .where("notification_dedup.created_at", "<=", now - windowMs),
      )
      .returning(["user_id", "dedup_key"])
      .execute();
    return new Set(rows.map((r) => pairKey(r.user_id, r.dedup_key)));
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
