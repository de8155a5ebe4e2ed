import { type Kysely, sql, type Transaction } from "kysely";
import type { FollowEdge } from "./client.ts";
import type { FollowCursor } from "./cursor.ts";
import type { GraphTables } from "./tables.ts";

type Db = Kysely<GraphTables> | Transaction<GraphTables>;
type Side = "follower_id" | "followee_id";

export type ListOptions = {
  after: FollowCursor | null;
  limit: number;
  /** Leaves out users in a block with this one (either way): the viewer of a list. */
  hiddenFrom?: string | null;
};

/** Who follows whom. Lists are newest first, keyset-paged on (created_at, other user's id). */
export class FollowsRepository {
  constructor(private readonly db: Kysely<GraphTables>) {}

  /**
   * Serialises the writes about two users (a follow between them, a block arriving): without it a
   * follow that checked "no block" could commit just after the block's removal of follows ran.
   * Transaction-scoped, so it goes with the commit.
   */
  async lockPair(trx: Transaction<GraphTables>, a: string, b: string): Promise<void> {
    // A space never appears in a user id (and PostgreSQL text cannot hold a NUL).
    const key = a < b ? `${a} ${b}` : `${b} ${a}`;
    await sql`SELECT pg_advisory_xact_lock(hashtext('nova.graph.pair'), hashtext(${key}))`.execute(trx);
  }

  /** True when the follow is new (a second follow inserts nothing). */
  async insert(trx: Db, followerId: string, followeeId: string, at: number): Promise<boolean> {
    const rows = await trx
      .insertInto("follows")
      .values({ follower_id: followerId, followee_id: followeeId, created_at: at })
      .onConflict((oc) => oc.columns(["follower_id", "followee_id"]).doNothing())
      .returning("follower_id")
      .execute();
    return rows.length > 0;
  }

  /** True when there was a follow to remove. */
  async delete(trx: Db, followerId: string, followeeId: string): Promise<boolean> {
    const rows = await trx
      .deleteFrom("follows")
      .where("follower_id", "=", followerId)
      .where("followee_id", "=", followeeId)
      .returning("follower_id")
      .execute();
    return rows.length > 0;
  }

  /** Removes the follows between two users both ways; returns the removed pairs. */
  async deleteBetween(
    trx: Db,
    a: string,
    b: string,
  ): Promise<{ follower_id: string; followee_id: string }[]> {
    return trx
      .deleteFrom("follows")
      .where((eb) =>
        eb.or([
          eb.and([eb("follower_id", "=", a), eb("followee_id", "=", b)]),
          eb.and([eb("follower_id", "=", b), eb("followee_id", "=", a)]),
        ]),
      )
      .returning(["follower_id", "followee_id"])
      .execute();
  }

  /** Every follow of or by the user (deactivation removes them all). */
  async deleteAllOf(trx: Db, userId: string): Promise<{ follower_id: string; followee_id: string }[]> {
    return trx
      .deleteFrom("follows")
      .where((eb) => eb.or([eb("follower_id", "=", userId), eb("followee_id", "=", userId)]))
      .returning(["follower_id", "followee_id"])
      .execute();
  }

  async exists(followerId: string, followeeId: string): Promise<boolean> {
    const row = await this.db
      .selectFrom("follows")
      .select("follower_id")
      .where("follower_id", "=", followerId)
      .where("followee_id", "=", followeeId)
      .executeTakeFirst();
    return row !== undefined;
  }

  /** Who follows `userId`; one more row than `limit` tells the caller there is a next page. */
  followers(userId: string, o: ListOptions): Promise<FollowEdge[]> {
    return this.list("followee_id", "follower_id", userId, o);
  }

  /** Whom `userId` follows; as `followers`. */
  following(userId: string, o: ListOptions): Promise<FollowEdge[]> {
    return this.list("follower_id", "followee_id", userId, o);
  }

  private async list(mine: Side, other: Side, userId: string, o: ListOptions): Promise<FollowEdge[]> {
    let q = this.db
      .selectFrom("follows")
      .select((eb) => [eb.ref(other).as("user_id"), "created_at"])
      .where(mine, "=", userId);
    if (o.after) {
      const { at, userId: id } = o.after;
      // A row comparison: the index's own order, so a page starts with one index seek.
      q = q.where((eb) => eb(eb.refTuple("created_at", other), "<", eb.tuple(at, id)));
    }
    const viewer = o.hiddenFrom;
    if (viewer) {
      const edge = `follows.${other}` as const;
      q = q.where((eb) =>
        eb.not(
          eb.exists(
            eb
              .selectFrom("graph_blocks as b")
              .select("b.user_id")
              .where((w) =>
                w.or([
                  w.and([w("b.user_id", "=", viewer), w("b.blocked_id", "=", w.ref(edge))]),
                  w.and([w("b.blocked_id", "=", viewer), w("b.user_id", "=", w.ref(edge))]),
                ]),
              ),
          ),
        ),
      );
    }
    const rows = await q
      .orderBy("created_at", "desc")
      .orderBy(other, "desc")
      .limit(o.limit + 1)
      .execute();
    return rows.map((r) => ({ userId: r.user_id, followedAt: Number(r.created_at) }));
  }
}
