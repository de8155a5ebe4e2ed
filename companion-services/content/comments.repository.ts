import type { Kysely, Transaction } from "kysely";
import type { Cursor } from "./cursor.ts";
import type { ContentTables } from "./tables.ts";

type Db = Kysely<ContentTables> | Transaction<ContentTables>;
export type CommentRow = ContentTables["comments"];

/** Threaded comments: `parent_id` is a comment of the same post (the service checks it). */
export class CommentsRepository {
  constructor(private readonly db: Kysely<ContentTables>) {}

  async insert(trx: Db, c: Omit<CommentRow, "deleted_at">): Promise<void> {
    await trx
      .insertInto("comments")
      .values({ ...c, deleted_at: null })
      .execute();
  }

  async row(db: Db, id: string): Promise<CommentRow | null> {
    return (await db.selectFrom("comments").selectAll().where("id", "=", id).executeTakeFirst()) ?? null;
  }

  /** Soft delete: replies keep their parent; true when this call deleted it. */
  async markDeleted(trx: Db, id: string, at: number): Promise<boolean> {
    const r = await trx
      .updateTable("comments")
      .set({ deleted_at: at })
      .where("id", "=", id)
      .where("deleted_at", "is", null)
      .executeTakeFirst();
    return Number(r.numUpdatedRows) > 0;
  }

  /** A post's comments oldest first (threads are rebuilt by parent_id); deleted ones left out. */
  async page(postId: string, after: Cursor | null, limit: number): Promise<CommentRow[]> {
    let q = this.db
      .selectFrom("comments")
      .selectAll()
      .where("post_id", "=", postId)
      .where("deleted_at", "is", null);
    if (after)
      q = q.where((eb) =>
        eb.or([
          eb("created_at", ">", after.at),
          eb.and([eb("created_at", "=", after.at), eb("id", ">", after.id)]),
        ]),
      );
    return q.orderBy("created_at").orderBy("id").limit(limit).execute();
  }
}
