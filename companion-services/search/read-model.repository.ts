import { type Kysely, sql, type Transaction } from "kysely";
import type { SearchTables } from "./tables.ts";

type Db = Kysely<SearchTables> | Transaction<SearchTables>;

/**
 * PostgreSQL refuses NUL in text and tsvector has a 1 MB ceiling: what the topics carry is cut to
 * what can be indexed (the sources' own limits are far lower; this is the last guard).
 */
const MAX_INDEXED = 100_000;
export function indexable(s: string): string {
  const clean = s.includes("\u0000") ? s.replaceAll("\u0000", " ") : s;
  return clean.length > MAX_INDEXED ? clean.slice(0, MAX_INDEXED) : clean;
}
const maybe = (s: string | null | undefined) => (s == null ? null : indexable(s));

/** A room event as search indexes it: the one searchable key of it and its value. */
export type IndexedRoomEvent = Omit<SearchTables["search_room_events"], "document">;

// PostgreSQL's bind parameters per statement are capped at 65,535: 500 rows of 8 columns is 4,000.
const INSERT_CHUNK = 500;
const IN_CHUNK = 1_000;

/** Every write of the read model; only search's consumers (and reindex) call these. */
export const readModel = {
  async upsertUser(db: Db, u: { userId: string; localpart: string; at: number }): Promise<void> {
    await db
      .insertInto("search_users")
      // Identity gives every new account its localpart as display name (a profile change follows).
      .values({
        user_id: u.userId,
        localpart: indexable(u.localpart),
        display_name: indexable(u.localpart),
        updated_at: u.at,
      })
      .onConflict((oc) => oc.column("user_id").doNothing())
      .execute();
  },

  /** A profile change; the user's row is made when the registration was not seen (a trimmed log). */
  async setDisplayName(db: Db, userId: string, displayName: string | null, at: number): Promise<void> {
    const localpart = userId.slice(1).split(":")[0] ?? userId;
    await db
      .insertInto("search_users")
      .values({ user_id: userId, localpart, display_name: maybe(displayName), updated_at: at })
      .onConflict((oc) =>
        oc.column("user_id").doUpdateSet({ display_name: maybe(displayName), updated_at: at }),
      )
      .execute();
  },

  async deleteUser(db: Db, userId: string): Promise<void> {
    await db.deleteFrom("search_users").where("user_id", "=", userId).execute();
  },

  async upsertPost(
    db: Db,
    p: {
      post_id: string;
      author_id: string;
      title: string | null;
      content: string;
      visibility: string;
      language: string | null;
      created_at: number;
      updated_at: number;
    },
  ): Promise<void> {
    // Only the columns search keeps: the snapshot carries more (media, shares).
    const row = {
      post_id: p.post_id,
      author_id: p.author_id,
      title: maybe(p.title),
      content: indexable(p.content),
      visibility: p.visibility,
      language: p.language,
      created_at: p.created_at,
      updated_at: p.updated_at,
    };
    await db
      .insertInto("search_posts")
      .values(row)
      .onConflict((oc) =>
        oc.column("post_id").doUpdateSet({
          title: row.title,
          content: row.content,
          visibility: row.visibility,
          language: row.language,
          updated_at: row.updated_at,
        }),
      )
      .execute();
  },

  /** A post leaves search with its comments. */
  async deletePost(db: Db, postId: string): Promise<void> {
    await db.deleteFrom("search_posts").where("post_id", "=", postId).execute();
    await db.deleteFrom("search_comments").where("post_id", "=", postId).execute();
  },

  async upsertComment(
    db: Db,
    c: { comment_id: string; post_id: string; author_id: string; content: string; created_at: number },
  ): Promise<void> {
    await db
      .insertInto("search_comments")
      .values({
        comment_id: c.comment_id,
        post_id: c.post_id,
        author_id: c.author_id,
        content: indexable(c.content),
        created_at: c.created_at,
      })
      .onConflict((oc) => oc.column("comment_id").doUpdateSet({ content: indexable(c.content) }))
      .execute();
  },

  async deleteComment(db: Db, commentId: string): Promise<void> {
    await db.deleteFrom("search_comments").where("comment_id", "=", commentId).execute();
  },

  /** Which of these rooms are encrypted (one query per chunk; a batch's rooms are usually one). */
  async encryptedRooms(db: Db, roomIds: readonly string[]): Promise<Set<string>> {
    const encrypted = new Set<string>();
    const distinct = [...new Set(roomIds)];
    for (let i = 0; i < distinct.length; i += IN_CHUNK) {
      const rows = await db
        .selectFrom("search_rooms")
        .select("room_id")
        .where("room_id", "in", distinct.slice(i, i + IN_CHUNK))
        .where("encrypted", "=", true)
        .execute();
      for (const r of rows) encrypted.add(r.room_id);
    }
    return encrypted;
  },

  /** One piece of a room's state (join rule, name, topic, alias) as of `at`. */
  async setRoomState(
    db: Db,
    roomId: string,
    field: "join_rule" | "name" | "topic" | "canonical_alias",
    value: string | null,
    at: number,
  ): Promise<void> {
    const v = maybe(value);
    await db
      .insertInto("search_rooms")
      .values({
        room_id: roomId,
        join_rule: null,
        name: null,
        topic: null,
        canonical_alias: null,
        updated_at: at,
        [field]: v,
      })
      .onConflict((oc) => oc.column("room_id").doUpdateSet({ [field]: v, updated_at: at }))
      .execute();
  },

  /** The room is encrypted from now on: what was indexed of it goes, and nothing more comes. */
  async markEncrypted(db: Db, roomId: string, at: number): Promise<void> {
    await db
      .insertInto("search_rooms")
      .values({
        room_id: roomId,
        join_rule: null,
        name: null,
        topic: null,
        canonical_alias: null,
        encrypted: true,
        updated_at: at,
      })
      .onConflict((oc) => oc.column("room_id").doUpdateSet({ encrypted: true, updated_at: at }))
      .execute();
    await db.deleteFrom("search_room_events").where("room_id", "=", roomId).execute();
  },

  /** Indexes events (a redelivered one is kept as first indexed), in chunks under the parameter limit. */
  async insertRoomEvents(db: Db, events: readonly IndexedRoomEvent[]): Promise<void> {
    for (let i = 0; i < events.length; i += INSERT_CHUNK) {
      await db
        .insertInto("search_room_events")
        .values(events.slice(i, i + INSERT_CHUNK).map((e) => ({ ...e, value: indexable(e.value) })))
        .onConflict((oc) => oc.column("event_id").doNothing())
        .execute();
    }
  },

  async deleteRoomEvent(db: Db, eventId: string): Promise<void> {
    await db.deleteFrom("search_room_events").where("event_id", "=", eventId).execute();
  },

  async generation(db: Db): Promise<number> {
    const r = await db
      .selectFrom("search_generation")
      .select("generation")
      .where("id", "=", 1)
      .executeTakeFirst();
    return r?.generation ?? 1;
  },

  /**
   * Empties the read model and what search's consumers remember having applied, and moves to the
   * next generation of consumer groups (which start from the topics' beginning). One transaction:
   * a failed reindex leaves the old model in place.
   */
  async reset(db: Kysely<SearchTables>, at: number): Promise<number> {
    return db.transaction().execute(async (trx) => {
      await sql`TRUNCATE search_users, search_posts, search_comments, search_rooms, search_room_events`.execute(
        trx,
      );
      await trx.deleteFrom("processed_events").where("consumer", "like", "search.%").execute();
      const r = await trx
        .updateTable("search_generation")
        .set((eb) => ({ generation: eb("generation", "+", 1), reindexed_at: at }))
        .where("id", "=", 1)
        .returning("generation")
        .executeTakeFirstOrThrow();
      return r.generation;
    });
  },
};
