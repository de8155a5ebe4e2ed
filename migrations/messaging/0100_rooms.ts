import { type Kysely, sql } from "kysely";

/**
 * Rooms and room events (seed tables conversations, conversation_members, messages and the message_*
 * indexes), plus the rooms area's own: current state, send transaction ids, aliases, signing keys.
 * No foreign keys to other services' tables; user ids are plain text owned by identity.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  // The homeserver's ed25519 signing keys; the seed never leaves this database.
  await db.schema
    .createTable("server_signing_keys")
    .addColumn("key_id", "text", (c) => c.primaryKey())
    .addColumn("seed", "text", (c) => c.notNull())
    .addColumn("created_at", "bigint", (c) => c.notNull())
    .execute();

  // conversations = rooms.
  await db.schema
    .createTable("conversations")
    .addColumn("room_id", "text", (c) => c.primaryKey())
    .addColumn("room_version", "text", (c) => c.notNull())
    .addColumn("creator", "text", (c) => c.notNull())
    .addColumn("created_at", "bigint", (c) => c.notNull())
    .addColumn("is_public", "boolean", (c) => c.notNull().defaultTo(false))
    .execute();
  await sql`CREATE INDEX conversations_public ON conversations (created_at) WHERE is_public`.execute(db);

  // messages = every room event, state included, in stream order.
  await db.schema
    .createTable("messages")
    .addColumn("event_id", "text", (c) => c.primaryKey())
    .addColumn("room_id", "text", (c) => c.notNull().references("conversations.room_id"))
    .addColumn("stream_position", "bigint", (c) => c.notNull().unique())
    .addColumn("depth", "bigint", (c) => c.notNull())
    .addColumn("type", "text", (c) => c.notNull())
    .addColumn("state_key", "text")
    .addColumn("sender", "text", (c) => c.notNull())
    .addColumn("origin_server_ts", "bigint", (c) => c.notNull())
    .addColumn("membership", "text")
    // The PDU as signed (or as redacted, once redacted), JSON text.
    .addColumn("pdu", "text", (c) => c.notNull())
    // For state events: {prev_content, prev_sender, replaces_state} of the state it replaced.
    .addColumn("prev_state", "text")
    .addColumn("txn_device_id", "text")
    .addColumn("txn_id", "text")
    .addColumn("redacted_because", "text")
    .execute();
  await sql`CREATE INDEX messages_room_position ON messages (room_id, stream_position)`.execute(db);
  await sql`CREATE INDEX messages_room_state ON messages (room_id, type, state_key, stream_position)
    WHERE state_key IS NOT NULL`.execute(db);
  // A user's membership history across rooms (sync, history visibility).
  await sql`CREATE INDEX messages_member_history ON messages (state_key, room_id, stream_position)
    WHERE type = 'm.room.member'`.execute(db);

  // Current state of each room: one event per (type, state_key).
  await db.schema
    .createTable("room_state")
    .addColumn("room_id", "text", (c) => c.notNull().references("conversations.room_id"))
    .addColumn("type", "text", (c) => c.notNull())
    .addColumn("state_key", "text", (c) => c.notNull())
    .addColumn("event_id", "text", (c) => c.notNull())
    .addColumn("stream_position", "bigint", (c) => c.notNull())
    .addPrimaryKeyConstraint("room_state_pk", ["room_id", "type", "state_key"])
    .execute();

  // conversation_members = current membership, one row per (room, user).
  await db.schema
    .createTable("conversation_members")
    .addColumn("room_id", "text", (c) => c.notNull().references("conversations.room_id"))
    .addColumn("user_id", "text", (c) => c.notNull())
    .addColumn("membership", "text", (c) => c.notNull())
    .addColumn("event_id", "text", (c) => c.notNull())
    .addColumn("stream_position", "bigint", (c) => c.notNull())
    .addColumn("forgotten", "boolean", (c) => c.notNull().defaultTo(false))
    .addPrimaryKeyConstraint("conversation_members_pk", ["room_id", "user_id"])
    .execute();
  await sql`CREATE INDEX conversation_members_user ON conversation_members (user_id, membership)`.execute(db);

  // Idempotency of PUT /send and /redact: one event per (user, device, endpoint, txnId).
  await db.schema
    .createTable("room_txns")
    .addColumn("user_id", "text", (c) => c.notNull())
    .addColumn("device_id", "text", (c) => c.notNull())
    .addColumn("scope", "text", (c) => c.notNull())
    .addColumn("txn_id", "text", (c) => c.notNull())
    .addColumn("event_id", "text", (c) => c.notNull())
    .addColumn("created_at", "bigint", (c) => c.notNull())
    .addPrimaryKeyConstraint("room_txns_pk", ["user_id", "device_id", "scope", "txn_id"])
    .execute();

  await db.schema
    .createTable("room_aliases")
    .addColumn("alias", "text", (c) => c.primaryKey())
    .addColumn("room_id", "text", (c) => c.notNull().references("conversations.room_id"))
    .addColumn("creator", "text", (c) => c.notNull())
    .addColumn("created_at", "bigint", (c) => c.notNull())
    .execute();
  await sql`CREATE INDEX room_aliases_room ON room_aliases (room_id)`.execute(db);

  // m.annotation relations (reactions).
  await db.schema
    .createTable("message_reactions")
    .addColumn("event_id", "text", (c) => c.primaryKey())
    .addColumn("room_id", "text", (c) => c.notNull())
    .addColumn("relates_to", "text", (c) => c.notNull())
    .addColumn("sender", "text", (c) => c.notNull())
    .addColumn("key", "text", (c) => c.notNull())
    .addColumn("stream_position", "bigint", (c) => c.notNull())
    .execute();
  await sql`CREATE INDEX message_reactions_target ON message_reactions (relates_to, key)`.execute(db);

  // m.replace relations (edits).
  await db.schema
    .createTable("message_edit_history")
    .addColumn("event_id", "text", (c) => c.primaryKey())
    .addColumn("room_id", "text", (c) => c.notNull())
    .addColumn("relates_to", "text", (c) => c.notNull())
    .addColumn("sender", "text", (c) => c.notNull())
    .addColumn("stream_position", "bigint", (c) => c.notNull())
    .execute();
  await sql`CREATE INDEX message_edit_history_target ON message_edit_history (relates_to, stream_position)`.execute(
    db,
  );

  // Redactions applied: which event was redacted, by which redaction event and sender.
  await db.schema
    .createTable("message_recalls")
    .addColumn("event_id", "text", (c) => c.primaryKey())
    .addColumn("room_id", "text", (c) => c.notNull())
    .addColumn("redaction_event_id", "text", (c) => c.notNull())
    .addColumn("redacted_by", "text", (c) => c.notNull())
    .addColumn("stream_position", "bigint", (c) => c.notNull())
    .execute();

  // mxc:// URIs referenced by events (media retention and quarantine look them up).
  await db.schema
    .createTable("message_attachments")
    .addColumn("event_id", "text", (c) => c.notNull())
    .addColumn("mxc_url", "text", (c) => c.notNull())
    .addColumn("room_id", "text", (c) => c.notNull())
    .addColumn("stream_position", "bigint", (c) => c.notNull())
    .addPrimaryKeyConstraint("message_attachments_pk", ["event_id", "mxc_url"])
    .execute();
  await sql`CREATE INDEX message_attachments_mxc ON message_attachments (mxc_url)`.execute(db);
}
