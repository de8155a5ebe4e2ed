import { type Kysely, sql } from "kysely";
import {
  MAX_MATCHES,
  ROOM_EVENT_KEYS,
  type RoomEventHit,
  type RoomEventMatch,
  type RoomEventQuery,
} from "./client.ts";
import type { Cursor } from "./cursor.ts";
import type { SearchTables } from "./tables.ts";
import { containsPattern } from "./terms.ts";

type Db = Kysely<SearchTables>;

// Markers ts_headline puts around matched words; control characters never in indexed text's words.
const START = "\u0001";
const STOP = "\u0002";
const HEADLINE_OPTIONS = `StartSel="${START}", StopSel="${STOP}", HighlightAll=true`;

const webQuery = (config: "english" | "simple", term: string) =>
  sql`websearch_to_tsquery(${sql.lit(config)}::regconfig, ${term})`;

/** All SQL of search's reads; each is one statement over one table of the read model. */
export const queries = {
  /** Room events matching the term in the rooms and keys asked, one page, and the total. */
  async roomEvents(
    db: Db,
    q: RoomEventQuery,
    cursor: Cursor | null,
  ): Promise<{ hits: RoomEventHit[]; count: number; values: string[]; matches?: RoomEventMatch[] }> {
    if (q.roomIds.length === 0) return { hits: [], count: 0, values: [] };
    const keys = q.keys?.length ? q.keys : [...ROOM_EVENT_KEYS];
    const tsq = webQuery("english", q.term);
    let base = db
      .selectFrom("search_room_events")
      .where(sql<boolean>`document @@ ${tsq}`)
      .where("room_id", "in", q.roomIds)
      .where("key", "in", keys);
    if (q.senders?.length) base = base.where("sender", "in", q.senders);
    if (q.notSenders?.length) base = base.where("sender", "not in", q.notSenders);
    if (q.types?.length) base = base.where("type", "in", q.types);
    if (q.notTypes?.length) base = base.where("type", "not in", q.notTypes);
    let page = base.select([
      "event_id",
      "room_id",
      "sender",
      "stream_position",
      "origin_server_ts",
      "value",
      sql<number>`ts_rank(document, ${tsq})`.as("rank"),
    ]);
    if (q.orderBy === "recent") {
      if (cursor && "p" in cursor)
        page = page.where((eb) =>
          eb.or([
            eb("stream_position", "<", cursor.p),
            eb.and([eb("stream_position", "=", cursor.p), eb("event_id", "<", cursor.e)]),
          ]),
        );
      page = page.orderBy("stream_position", "desc").orderBy("event_id", "desc");
    } else {
      page = page
        .orderBy(sql`ts_rank(document, ${tsq})`, "desc")
        .orderBy("stream_position", "desc")
        .orderBy("event_id", "desc")
        .offset(cursor && "o" in cursor ? cursor.o : 0);
    }
    const [rows, total, matched] = await Promise.all([
      page.limit(q.limit).execute(),
      base.select((eb) => eb.fn.countAll<number>().as("n")).executeTakeFirst(),
      q.withMatches
        ? base
            .select(["room_id", "stream_position", "type", "sender"])
            .orderBy("stream_position", "desc")
            .limit(MAX_MATCHES)
            .execute()
        : null,
    ]);
    return {
      hits: rows.map((r) => ({
        roomId: r.room_id,
        eventId: r.event_id,
        sender: r.sender,
        rank: Number(r.rank),
        streamPosition: Number(r.stream_position),
        originServerTs: Number(r.origin_server_ts),
      })),
      count: Number(total?.n ?? 0),
      values: rows.map((r) => r.value),
      ...(matched
        ? {
            matches: matched.map((m) => ({
              roomId: m.room_id,
              streamPosition: Number(m.stream_position),
              type: m.type,
              sender: m.sender,
            })),
          }
        : {}),
    };
  },

  /** The words of `texts` that match the term, as they are written (the spec's `highlights`). */
  async highlights(db: Db, term: string, texts: string[]): Promise<string[]> {
    if (texts.length === 0) return [];
    const { rows } = await sql<{ h: string }>`SELECT ts_headline('english', t, ${webQuery("english", term)},
      ${HEADLINE_OPTIONS}) AS h FROM unnest(ARRAY[${sql.join(texts)}]::text[]) AS t`.execute(db);
    const words = new Set<string>();
    const marked = new RegExp(`${START}([^${STOP}]*)${STOP}`, "g");
    for (const r of rows) for (const m of r.h.matchAll(marked)) if (m[1]) words.add(m[1]);
    return [...words];
  },

  /** Public posts by rank, then newest. */
  posts(db: Db, term: string, offset: number, limit: number) {
    const tsq = webQuery("english", term);
    return db
      .selectFrom("search_posts")
      .select([
        "post_id",
        "author_id",
        "title",
        "content",
        "language",
        "created_at",
        sql<number>`ts_rank(document, ${tsq})`.as("rank"),
      ])
      .where("visibility", "=", "public")
      .where(sql<boolean>`document @@ ${tsq}`)
      .orderBy(sql`ts_rank(document, ${tsq})`, "desc")
      .orderBy("created_at", "desc")
      .orderBy("post_id")
      .offset(offset)
      .limit(limit)
      .execute();
  },

  comments(db: Db, term: string, offset: number, limit: number) {
    const tsq = webQuery("english", term);
    return db
      .selectFrom("search_comments")
      .select([
        "comment_id",
        "post_id",
        "author_id",
        "content",
        "created_at",
        sql<number>`ts_rank(document, ${tsq})`.as("rank"),
      ])
      .where(sql<boolean>`document @@ ${tsq}`)
      .orderBy(sql`ts_rank(document, ${tsq})`, "desc")
      .orderBy("created_at", "desc")
      .orderBy("comment_id")
      .offset(offset)
      .limit(limit)
      .execute();
  },

  /**
   * Users whose id (`@local:server`) or display name contains the term (the trigram index serves the LIKE where
   * pg_trgm exists), or whose words match it; prefixes of the localpart first.
   */
  users(db: Db, term: string, offset: number, limit: number) {
    const pattern = containsPattern(term);
    // `names` starts with the user id: a localpart prefix is a prefix after the "@".
    const prefix = `${term.startsWith("@") ? "" : "@"}${pattern.slice(1)}`;
    return db
      .selectFrom("search_users")
      .select(["user_id", "display_name"])
      .where((eb) =>
        eb.or([
          sql<boolean>`names LIKE ${pattern}`,
          sql<boolean>`document @@ plainto_tsquery('simple', ${term})`,
        ]),
      )
      .orderBy(sql`(names LIKE ${prefix})`, "desc")
      .orderBy("user_id")
      .offset(offset)
      .limit(limit)
      .execute();
  },

  /** Rooms whose join rule is public, by name, alias and topic. */
  rooms(db: Db, term: string, offset: number, limit: number) {
    const tsq = sql`(${webQuery("english", term)} || ${webQuery("simple", term)})`;
    return db
      .selectFrom("search_rooms")
      .select([
        "room_id",
        "name",
        "topic",
        "canonical_alias",
        sql<number>`ts_rank(document, ${tsq})`.as("rank"),
      ])
      .where("join_rule", "=", "public")
      .where((eb) =>
        eb.or([
          sql<boolean>`document @@ ${tsq}`,
          sql<boolean>`lower(coalesce(name, '')) LIKE ${containsPattern(term)}`,
        ]),
      )
      .orderBy(sql`ts_rank(document, ${tsq})`, "desc")
      .orderBy("room_id")
      .offset(offset)
      .limit(limit)
      .execute();
  },
};
