import type { Kysely, Transaction } from "kysely";
import type { ContentTables } from "./tables.ts";

type Db = Kysely<ContentTables> | Transaction<ContentTables>;

/** likes (one per user and post) and post_shares (one per user and post). */
export class ReactionsRepository {
  constructor(private readonly db: Kysely<ContentTables>) {}

  /** True when the like is new (a second like changes nothing). */
  async like(trx: Db, postId: string, userId: string, at: number): Promise<boolean> {
    const r = await trx
      .insertInto("likes")
      .values({ post_id: postId, user_id: userId, created_at: at })
      .onConflict((oc) => oc.columns(["post_id", "user_id"]).doNothing())
      .executeTakeFirst();
    return Number(r.numInsertedOrUpdatedRows ?? 0) > 0;
  }

  async unlike(trx: Db, postId: string, userId: string): Promise<boolean> {
    const r = await trx
      .deleteFrom("likes")
      .where("post_id", "=", postId)
      .where("user_id", "=", userId)
      .executeTakeFirst();
    return Number(r.numDeletedRows) > 0;
  }

  async likedBy(postId: string, userId: string): Promise<boolean> {
    const r = await this.db
      .selectFrom("likes")
      .select("post_id")
      .where("post_id", "=", postId)
      .where("user_id", "=", userId)
      .executeTakeFirst();
    return r !== undefined;
  }

  async shareOf(db: Db, postId: string, userId: string) {
    return (
      (await db
        .selectFrom("post_shares")
        .selectAll()
        .where("post_id", "=", postId)
        .where("user_id", "=", userId)
        .executeTakeFirst()) ?? null
    );
  }

  /** True when inserted; false when this user had already shared the post (a concurrent share). */
  async share(trx: Db, s: { id: string; postId: string; userId: string; at: number }): Promise<boolean> {
    const r = await trx
      .insertInto("post_shares")
      .values({ id: s.id, post_id: s.postId, user_id: s.userId, created_at: s.at })
      .onConflict((oc) => oc.columns(["post_id", "user_id"]).doNothing())
      .executeTakeFirst();
    return Number(r.numInsertedOrUpdatedRows ?? 0) > 0;
  }
}
