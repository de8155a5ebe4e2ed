import type { Kysely, Selectable, Transaction } from "kysely";
import type { MediaTables } from "../tables.ts";

type Db = Kysely<MediaTables> | Transaction<MediaTables>;
export type ReelRow = Selectable<MediaTables["reels"]>;

export class ReelsRepository {
  constructor(private readonly db: Kysely<MediaTables>) {}

  async create(trx: Db, row: ReelRow): Promise<void> {
    await trx.insertInto("reels").values(row).execute();
  }

  async get(id: string): Promise<ReelRow | undefined> {
    return this.db.selectFrom("reels").selectAll().where("id", "=", id).executeTakeFirst();
  }

  async byVideo(trx: Db, videoId: string): Promise<ReelRow[]> {
    return trx.selectFrom("reels").selectAll().where("video_id", "=", videoId).execute();
  }

  /** A user's reels, newest first, strictly after the cursor `(createdAt, id)` when given. */
  async byOwner(
    ownerId: string,
    limit: number,
    after: { createdAt: number; id: string } | null,
  ): Promise<ReelRow[]> {
    let q = this.db.selectFrom("reels").selectAll().where("owner_id", "=", ownerId);
    if (after) {
      q = q.where((eb) =>
        eb.or([
          eb("created_at", "<", after.createdAt),
          eb.and([eb("created_at", "=", after.createdAt), eb("id", "<", after.id)]),
        ]),
      );
    }
    return q.orderBy("created_at", "desc").orderBy("id", "desc").limit(limit).execute();
  }

  async delete(trx: Db, id: string): Promise<ReelRow | undefined> {
    return trx.deleteFrom("reels").where("id", "=", id).returningAll().executeTakeFirst();
  }
}
