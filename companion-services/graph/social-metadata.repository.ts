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
   * Moves users' counts by the deltas of a run of follow events (never below zero), in one
   * statement. Called by the consumer that records the events as processed in the same
   * transaction, so a redelivery never moves them twice. A user graph has no row for
   * (deactivated since) is left alone.
   */
  async adjustMany(
    trx: Transaction<GraphTables>,
    deltas: Map<string, { followers: number; following: number }>,
  ): Promise<void> {
    if (deltas.size === 0) return;
    const ids = [...deltas.keys()];
    const followers = ids.map((id) => deltas.get(id)!.followers);
    const following = ids.map((id) => deltas.get(id)!.following);
    await sql`UPDATE social_metadata AS m
      SET follower_count = greatest(0, m.follower_count + d.followers),
          following_count = greatest(0, m.following_count + d.following)
      FROM unnest(${ids}::text[], ${followers}::int[], ${following}::int[]) AS d(user_id, followers, following)
      WHERE m.user_id = d.user_id`.execute(trx);
  }

  async delete(trx: Db, userId: string): Promise<void> {
    await trx.deleteFrom("social_metadata").where("user_id", "=", userId).execute();
  }
}
