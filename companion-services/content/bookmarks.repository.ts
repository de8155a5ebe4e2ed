import type { Kysely, Transaction } from "kysely";
import type { Cursor } from "./cursor.ts";
import type { ContentTables } from "./tables.ts";

type Db = Kysely<ContentTables> | Transaction<ContentTables>;
export type BookmarkRow = ContentTables["bookmarks"];
export type CollectionRow = ContentTables["bookmark_collections"];

/** A user's bookmarks and their collections (private to the user: no events). */
export class BookmarksRepository {
  constructor(private readonly db: Kysely<ContentTables>) {}

  /** Bookmarking again moves the bookmark to `collectionId` and keeps its time. */
  async put(userId: string, postId: string, collectionId: string | null, at: number): Promise<void> {
    await this.db
      .insertInto("bookmarks")
      .values({ user_id: userId, post_id: postId, collection_id: collectionId, created_at: at })
      .onConflict((oc) => oc.columns(["user_id", "post_id"]).doUpdateSet({ collection_id: collectionId }))
      .execute();
  }

  async remove(userId: string, postId: string): Promise<void> {
    await this.db
      .deleteFrom("bookmarks")
      .where("user_id", "=", userId)
      .where("post_id", "=", postId)
      .execute();
  }

  /** Newest first; only the bookmarks of a collection when one is given. */
  async page(
    userId: string,
    opts: { collectionId: string | null; after: Cursor | null; limit: number },
  ): Promise<BookmarkRow[]> {
    let q = this.db.selectFrom("bookmarks").selectAll().where("user_id", "=", userId);
    if (opts.collectionId) q = q.where("collection_id", "=", opts.collectionId);
    const after = opts.after;
    if (after)
      q = q.where((eb) =>
        eb.or([
          eb("created_at", "<", after.at),
          eb.and([eb("created_at", "=", after.at), eb("post_id", "<", after.id)]),
        ]),
      );
    return q.orderBy("created_at", "desc").orderBy("post_id", "desc").limit(opts.limit).execute();
  }

  /** Creates the collection, or answers the user's existing one of that name. */
  async createCollection(trx: Db, c: CollectionRow): Promise<CollectionRow> {
    await trx
      .insertInto("bookmark_collections")
      .values(c)
      .onConflict((oc) => oc.columns(["user_id", "name"]).doNothing())
      .execute();
    return trx
      .selectFrom("bookmark_collections")
      .selectAll()
      .where("user_id", "=", c.user_id)
      .where("name", "=", c.name)
      .executeTakeFirstOrThrow();
  }

  async collection(userId: string, id: string): Promise<CollectionRow | null> {
    return (
      (await this.db
        .selectFrom("bookmark_collections")
        .selectAll()
        .where("user_id", "=", userId)
        .where("id", "=", id)
        .executeTakeFirst()) ?? null
    );
  }

  async collections(userId: string, after: Cursor | null, limit: number): Promise<CollectionRow[]> {
    let q = this.db.selectFrom("bookmark_collections").selectAll().where("user_id", "=", userId);
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
