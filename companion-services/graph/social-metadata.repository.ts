import { type Kysely, sql, type Transaction } from "kysely";
import type { GraphTables } from "./tables.ts";

type Db = Kysely<GraphTables> | Transaction<GraphTables>;

export class SocialMetadataRepository {
  constructor(private readonly db: Kysely<GraphTables>) {}

  /** The user's row with zero counts; a second call changes nothing. */
  async createFor(trx: Transaction<GraphTables>, userId: string, at: number): Promise<void> {
    await trx
      .insertInto("social_metadata")
      .values({ user_id: userId, follower_count: 0, following_count: 0, created_at: at })
      .onConflict((oc) => oc.column("user_id").doNothing())
      .execute();
  }

  async get(userId: string, db: Db = this.db) {
    return db.selectFrom("social_metadata").selectAll().where("user_id", "=", userId).executeTakeFirst();
  }

  /**
   * Moves one user's counts by `delta` (never below zero). Called once per follow event by the
   * consumer that records the event as processed, so a redelivery never moves them twice. A user
   * graph has no row for (deactivated since) is left alone.
   */
  async adjust(
    trx: Transaction<GraphTables>,
    userId: string,
    column: "follower_count" | "following_count",
    delta: number,
  ): Promise<void> {
    await trx
      .updateTable("social_metadata")
      .set({ [column]: sql<number>`greatest(0, ${sql.ref(column)} + ${delta})` })
      .where("user_id", "=", userId)
      .execute();
  }

  async delete(trx: Db, userId: string): Promise<void> {
    await trx.deleteFrom("social_metadata").where("user_id", "=", userId).execute();
  }
}
