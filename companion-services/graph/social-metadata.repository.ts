import type { Kysely, Transaction } from "kysely";
import type { GraphTables } from "./tables.ts";

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

  async get(userId: string) {
    return this.db.selectFrom("social_metadata").selectAll().where("user_id", "=", userId).executeTakeFirst();
  }
}
