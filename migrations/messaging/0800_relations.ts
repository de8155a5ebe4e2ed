import { type Kysely, sql } from "kysely";

/**
 * Every event relation (content `m.relates_to` with a `rel_type` and an `event_id`): what
 * GET /relations pages through, what the server-side aggregations (threads, edits, references) and
 * GET /threads read. message_reactions and message_edit_history keep their narrower roles.
 * Encrypted events carry `m.relates_to` in clear, so they are indexed alike.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`CREATE TABLE message_relations (
    event_id TEXT PRIMARY KEY,
    room_id TEXT NOT NULL,
    relates_to TEXT NOT NULL,
    rel_type TEXT NOT NULL,
    type TEXT NOT NULL,
    sender TEXT NOT NULL,
    aggregation_key TEXT,
    stream_position BIGINT NOT NULL
  )`.execute(db);
  // /relations pages and the aggregations of a chunk look relations up by their target.
  await sql`CREATE INDEX message_relations_target ON message_relations (relates_to, stream_position)`.execute(
    db,
  );
  // GET /threads groups a room's thread relations by root; the room snapshot reads the newest one.
  await sql`CREATE INDEX message_relations_room ON message_relations (room_id, rel_type, relates_to, stream_position)`.execute(
    db,
  );
  await sql`CREATE INDEX message_relations_room_position ON message_relations (room_id, stream_position)`.execute(
    db,
  );
  await indexStoredRelations(db);
}

/**
 * Indexes the relations of events stored before message_relations existed (a redacted event lost
 * its content, and so its relation). Idempotent.
 */
export async function indexStoredRelations(db: Kysely<unknown>): Promise<void> {
  await sql`INSERT INTO message_relations (event_id, room_id, relates_to, rel_type, type, sender, aggregation_key, stream_position)
    SELECT event_id, room_id, rel->>'event_id', rel->>'rel_type', type, sender,
      CASE WHEN jsonb_typeof(rel->'key') = 'string' THEN rel->>'key' END, stream_position
    FROM (SELECT m.*, (m.pdu::jsonb)->'content'->'m.relates_to' AS rel FROM messages m
      WHERE m.redacted_because IS NULL AND m.pdu LIKE '%m.relates_to%') x
    WHERE jsonb_typeof(rel) = 'object' AND jsonb_typeof(rel->'event_id') = 'string'
      AND jsonb_typeof(rel->'rel_type') = 'string'
    ON CONFLICT (event_id) DO NOTHING`.execute(db);
}
