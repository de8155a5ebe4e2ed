import { type Kysely, sql } from "kysely";
import { createOutboxTables } from "../../companion-services/platform/outbox/schema.ts";

/**
 * Search's read model: copies of other services' public data, each row with a tsvector kept by
 * PostgreSQL itself (a generated column) and a GIN index on it. Nothing here is a source of
 * truth: `nova search reindex` drops it all and rebuilds it from the topics.
 *
 * Texts are parsed with the `english` configuration (stemming: "messages" finds "message"), names
 * with `simple` (no stemming of people's names).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`CREATE TABLE search_users (
    user_id text PRIMARY KEY,
    localpart text NOT NULL,
    display_name text,
    updated_at bigint NOT NULL,
    names text GENERATED ALWAYS AS (lower(user_id || ' ' || coalesce(display_name, ''))) STORED,
    document tsvector GENERATED ALWAYS AS (to_tsvector('simple', localpart || ' ' || coalesce(display_name, ''))) STORED
  )`.execute(db);
  await sql`CREATE INDEX search_users_document ON search_users USING gin (document)`.execute(db);
  await trigramIndex(db);

  await sql`CREATE TABLE search_posts (
    post_id uuid PRIMARY KEY,
    author_id text NOT NULL,
    title text,
    content text NOT NULL,
    visibility text NOT NULL,
    language text,
    created_at bigint NOT NULL,
    updated_at bigint NOT NULL,
    document tsvector GENERATED ALWAYS AS (
      setweight(to_tsvector('english', coalesce(title, '')), 'A') || setweight(to_tsvector('english', content), 'B')
    ) STORED
  )`.execute(db);
  await sql`CREATE INDEX search_posts_document ON search_posts USING gin (document)`.execute(db);

  await sql`CREATE TABLE search_comments (
    comment_id uuid PRIMARY KEY,
    post_id uuid NOT NULL,
    author_id text NOT NULL,
    content text NOT NULL,
    created_at bigint NOT NULL,
    document tsvector GENERATED ALWAYS AS (to_tsvector('english', content)) STORED
  )`.execute(db);
  await sql`CREATE INDEX search_comments_document ON search_comments USING gin (document)`.execute(db);
  await sql`CREATE INDEX search_comments_post ON search_comments (post_id)`.execute(db);

  // Every room whose state search has seen; listed while join_rule is public. `encrypted` is for
  // ever: once set, the room's messages are dropped and never indexed again.
  await sql`CREATE TABLE search_rooms (
    room_id text PRIMARY KEY,
    join_rule text,
    name text,
    topic text,
    canonical_alias text,
    encrypted boolean NOT NULL DEFAULT false,
    updated_at bigint NOT NULL,
    document tsvector GENERATED ALWAYS AS (
      setweight(to_tsvector('simple', coalesce(name, '') || ' ' || coalesce(canonical_alias, '')), 'A') ||
      setweight(to_tsvector('english', coalesce(topic, '')), 'B')
    ) STORED
  )`.execute(db);
  await sql`CREATE INDEX search_rooms_document ON search_rooms USING gin (document) WHERE join_rule = 'public'`.execute(
    db,
  );

  // One row per indexed event: its one searchable key (content.body, content.name or content.topic).
  await sql`CREATE TABLE search_room_events (
    event_id text PRIMARY KEY,
    room_id text NOT NULL,
    sender text NOT NULL,
    type text NOT NULL,
    key text NOT NULL,
    value text NOT NULL,
    origin_server_ts bigint NOT NULL,
    stream_position bigint NOT NULL,
    document tsvector GENERATED ALWAYS AS (to_tsvector('english', value)) STORED
  )`.execute(db);
  await sql`CREATE INDEX search_room_events_document ON search_room_events USING gin (document)`.execute(db);
  await sql`CREATE INDEX search_room_events_room ON search_room_events (room_id, stream_position)`.execute(
    db,
  );

  // Which generation of consumer groups feeds the read model: a reindex moves to the next one,
  // whose groups start from the beginning of the topics.
  await sql`CREATE TABLE search_generation (
    id smallint PRIMARY KEY CHECK (id = 1),
    generation integer NOT NULL,
    reindexed_at bigint
  )`.execute(db);
  await sql`INSERT INTO search_generation (id, generation) VALUES (1, 1)`.execute(db);

  await createOutboxTables(db);
}

/**
 * A trigram index for substring matches on user names, when pg_trgm can be had (PostgreSQL ships
 * it as a trusted extension; PGlite loads it from its contrib bundle). Without it the same
 * LIKE query runs unindexed: slower, never wrong. The extension may already live in another
 * schema (it is per database), so its operator class is named with its schema.
 */
async function trigramIndex(db: Kysely<unknown>): Promise<void> {
  await sql`SAVEPOINT search_trgm`.execute(db);
  try {
    await sql`CREATE EXTENSION IF NOT EXISTS pg_trgm`.execute(db);
    const { rows } = await sql<{ schema: string }>`SELECT n.nspname AS schema FROM pg_extension e
      JOIN pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = 'pg_trgm'`.execute(db);
    const schema = rows[0]?.schema;
    if (!schema) throw new Error("pg_trgm not installed");
    await sql`CREATE INDEX search_users_names ON search_users USING gin (names ${sql.id(schema)}.gin_trgm_ops)`.execute(
      db,
    );
    await sql`RELEASE SAVEPOINT search_trgm`.execute(db);
  } catch {
    await sql`ROLLBACK TO SAVEPOINT search_trgm`.execute(db);
  }
}
