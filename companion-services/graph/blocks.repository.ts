import type { Kysely, Transaction } from "kysely";
import type { GraphTables } from "./tables.ts";

type Db = Kysely<GraphTables> | Transaction<GraphTables>;

/** Graph's copy of messaging's ignored-user lists. */
export class BlocksRepository {
  constructor(private readonly db: Kysely<GraphTables>) {}

  /**
   * Makes `userId`'s blocks exactly `blocked` (the event carries the whole list); returns the
   * ids newly blocked, whose follows with the user must go.
   */
  async replace(
    trx: Transaction<GraphTables>,
    userId: string,
    blocked: string[],
    at: number,
  ): Promise<string[]> {
    const wanted = [...new Set(blocked)].filter((b) => b !== userId);
    let del = trx.deleteFrom("graph_blocks").where("user_id", "=", userId);
    if (wanted.length > 0) del = del.where("blocked_id", "not in", wanted);
    await del.execute();
    if (wanted.length === 0) return [];
    const added = await trx
      .insertInto("graph_blocks")
      .values(wanted.map((b) => ({ user_id: userId, blocked_id: b, created_at: at })))
      .onConflict((oc) => oc.columns(["user_id", "blocked_id"]).doNothing())
      .returning("blocked_id")
      .execute();
    return added.map((r) => r.blocked_id);
  }

  /** Whether either of the two ignores the other. */
  async between(a: string, b: string, db: Db = this.db): Promise<boolean> {
    const row = await db
      .selectFrom("graph_blocks")
      .select("user_id")
      .where((eb) =>
        eb.or([
          eb.and([eb("user_id", "=", a), eb("blocked_id", "=", b)]),
          eb.and([eb("user_id", "=", b), eb("blocked_id", "=", a)]),
        ]),
      )
      .executeTakeFirst();
    return row !== undefined;
  }

  /** A deactivated account's own list goes (others' blocks of it stay: they are theirs). */
  async deleteOf(trx: Db, userId: string): Promise<void> {
    await trx.deleteFrom("graph_blocks").where("user_id", "=", userId).execute();
  }
}
