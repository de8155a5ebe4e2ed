import type { Kysely, Transaction } from "kysely";

/**
 * The messaging tables the rooms area owns (migrations/messaging/0100_rooms.ts, 0101_room_heads.ts).
 * BIGINT columns read back as JS numbers (companion-services/platform/database.ts sets the parser).
 */
export type RoomsTables = {
  /** The homeserver's ed25519 signing keys; the seed never leaves this database. */
  server_signing_keys: { key_id: string; seed: string; created_at: number };
  /** Rooms. */
  conversations: {
    room_id: string;
    room_version: string;
    creator: string;
    created_at: number;
    is_public: boolean;
    /** Stream position of the room's latest event (0101: the compare-and-swap of every write). */
    head_position: number;
  };
  /** Every room event, state included, in stream order. */
  messages: {
    event_id: string;
    room_id: string;
    stream_position: number;
    depth: number;
    type: string;
    state_key: string | null;
    sender: string;
    origin_server_ts: number;
    membership: string | null;
    /** The PDU as signed (or as redacted, once redacted), JSON text. */
    pdu: string;
    /** For state events: {prev_content, prev_sender, replaces_state} of the state it replaced. */
    prev_state: string | null;
    txn_device_id: string | null;
    txn_id: string | null;
    redacted_because: string | null;
  };
  /** Current state of each room: one event per (type, state_key). */
  room_state: { room_id: string; type: string; state_key: string; event_id: string; stream_position: number };
  /** Current membership, one row per (room, user). */
  conversation_members: {
    room_id: string;
    user_id: string;
    membership: string;
    event_id: string;
    stream_position: number;
    forgotten: boolean;
  };
  /** Idempotency of PUT /send and /redact: one event per (user, device, endpoint, txnId). */
  room_txns: {
    user_id: string;
    device_id: string;
    scope: string;
    txn_id: string;
    event_id: string;
    created_at: number;
  };
  room_aliases: { alias: string; room_id: string; creator: string; created_at: number };
  /** m.annotation relations (reactions). */
  message_reactions: {
    event_id: string;
    room_id: string;
    relates_to: string;
    sender: string;
    key: string;
    stream_position: number;
  };
  /** m.replace relations (edits). */
  message_edit_history: {
    event_id: string;
    room_id: string;
    relates_to: string;
    sender: string;
    stream_position: number;
  };
  /** Every relation (m.relates_to with rel_type and event_id): /relations, aggregations, /threads. */
  message_relations: {
    event_id: string;
    room_id: string;
    relates_to: string;
    rel_type: string;
    type: string;
    sender: string;
    aggregation_key: string | null;
    stream_position: number;
  };
  /** Redactions applied. */
  message_recalls: {
    event_id: string;
    room_id: string;
    redaction_event_id: string;
    redacted_by: string;
    stream_position: number;
  };
  /** mxc:// URIs referenced by events (media retention and quarantine look them up). */
  message_attachments: { event_id: string; mxc_url: string; room_id: string; stream_position: number };
};

export type RoomsDb = Kysely<RoomsTables>;
/** The pool or a transaction holding a room (the locked retry of a write reads inside it). */
export type RoomsExecutor = Kysely<RoomsTables> | Transaction<RoomsTables>;
