import { type Kysely, sql } from "kysely";

/**
 * The E2EE key server's tables (crypto/). Seed table → Matrix meaning:
 *
 * - user_devices: one row per device that may hold keys — every logged-in device (created on the
 *   identity service's deviceCreated hook) and the user's dehydrated device (MSC3814). Holds the
 *   signed device keys exactly as uploaded and a copy of the display name for /keys/query.
 * - olm_one_time_keys: unclaimed one-time keys, handed out once by /keys/claim (deleted there).
 * - olm_fallback_keys: the one fallback key per (device, algorithm) (MSC2732); never deleted by a
 *   claim, only marked used.
 * - olm_accounts: dehydrated devices — the client-encrypted pickle of the device's Olm account.
 * - room_key_history: key backup versions (/room_keys/version): algorithm, auth_data, etag, and a
 *   deleted flag so that a deleted version is told apart from one that never existed.
 * - megolm_inbound_sessions: the backed-up Megolm sessions of a backup version (/room_keys/keys),
 *   with the three fields the replacement rule compares; session_data stays client-encrypted.
 * - megolm_outbound_sessions, olm_sessions: not created. Outbound Megolm sessions and Olm
 *   sessions exist only on devices; a Matrix server neither needs nor may hold them (crypto/README).
 * - to_device_messages: each device's inbox, ordered by stream position; deleted when the device
 *   syncs past a message. to_device_txns makes /sendToDevice idempotent per device and path.
 * - device_list_changes / device_list_room_changes: the log behind device_lists in /sync and
 *   /keys/changes: whose keys changed (visible to everyone sharing a room, or only to one user),
 *   and membership changes that start or stop two users sharing a room.
 * - cross_signing_keys / cross_signing_signatures: master, self-signing and user-signing keys, and
 *   the signatures uploaded through /keys/signatures/upload.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable("user_devices")
    .addColumn("user_id", "text", (c) => c.notNull())
    .addColumn("device_id", "text", (c) => c.notNull())
    .addColumn("display_name", "text")
    .addColumn("device_keys", "jsonb")
    .addColumn("dehydrated", "boolean", (c) => c.notNull().defaultTo(false))
    .addColumn("created_at", "bigint", (c) => c.notNull())
    .addPrimaryKeyConstraint("user_devices_pk", ["user_id", "device_id"])
    .execute();

  await db.schema
    .createTable("olm_one_time_keys")
    .addColumn("id", "bigserial", (c) => c.primaryKey())
    .addColumn("user_id", "text", (c) => c.notNull())
    .addColumn("device_id", "text", (c) => c.notNull())
    .addColumn("algorithm", "text", (c) => c.notNull())
    .addColumn("key_id", "text", (c) => c.notNull())
    .addColumn("key_json", "jsonb", (c) => c.notNull())
    .execute();
  await db.schema
    .createIndex("olm_one_time_keys_key")
    .on("olm_one_time_keys")
    .columns(["user_id", "device_id", "algorithm", "key_id"])
    .unique()
    .execute();
  // Claims take the oldest key of a device first (upload order = id order).
  await db.schema
    .createIndex("olm_one_time_keys_claim")
    .on("olm_one_time_keys")
    .columns(["user_id", "device_id", "algorithm", "id"])
    .execute();

  await db.schema
    .createTable("olm_fallback_keys")
    .addColumn("user_id", "text", (c) => c.notNull())
    .addColumn("device_id", "text", (c) => c.notNull())
    .addColumn("algorithm", "text", (c) => c.notNull())
    .addColumn("key_id", "text", (c) => c.notNull())
    .addColumn("key_json", "jsonb", (c) => c.notNull())
    .addColumn("used", "boolean", (c) => c.notNull().defaultTo(false))
    .addPrimaryKeyConstraint("olm_fallback_keys_pk", ["user_id", "device_id", "algorithm"])
    .execute();

  await db.schema
    .createTable("olm_accounts")
    .addColumn("user_id", "text", (c) => c.primaryKey())
    .addColumn("device_id", "text", (c) => c.notNull())
    .addColumn("device_data", "jsonb", (c) => c.notNull())
    .addColumn("created_at", "bigint", (c) => c.notNull())
    .execute();

  await sql`CREATE SEQUENCE room_key_version_seq`.execute(db);
  await db.schema
    .createTable("room_key_history")
    .addColumn("user_id", "text", (c) => c.notNull())
    .addColumn("version", "bigint", (c) => c.notNull())
    .addColumn("algorithm", "text", (c) => c.notNull())
    .addColumn("auth_data", "jsonb", (c) => c.notNull())
    .addColumn("etag", "bigint", (c) => c.notNull().defaultTo(0))
    .addColumn("deleted", "boolean", (c) => c.notNull().defaultTo(false))
    .addPrimaryKeyConstraint("room_key_history_pk", ["user_id", "version"])
    .execute();

  await db.schema
    .createTable("megolm_inbound_sessions")
    .addColumn("user_id", "text", (c) => c.notNull())
    .addColumn("version", "bigint", (c) => c.notNull())
    .addColumn("room_id", "text", (c) => c.notNull())
    .addColumn("session_id", "text", (c) => c.notNull())
    .addColumn("first_message_index", "integer", (c) => c.notNull())
    .addColumn("forwarded_count", "integer", (c) => c.notNull())
    .addColumn("is_verified", "boolean", (c) => c.notNull())
    .addColumn("session_data", "jsonb", (c) => c.notNull())
    .addPrimaryKeyConstraint("megolm_inbound_sessions_pk", ["user_id", "version", "room_id", "session_id"])
    .execute();

  await db.schema
    .createTable("to_device_messages")
    .addColumn("user_id", "text", (c) => c.notNull())
    .addColumn("device_id", "text", (c) => c.notNull())
    .addColumn("position", "bigint", (c) => c.notNull())
    .addColumn("sender", "text", (c) => c.notNull())
    .addColumn("type", "text", (c) => c.notNull())
    .addColumn("content", "jsonb", (c) => c.notNull())
    .addPrimaryKeyConstraint("to_device_messages_pk", ["user_id", "device_id", "position"])
    .execute();

  await db.schema
    .createTable("to_device_txns")
    .addColumn("user_id", "text", (c) => c.notNull())
    .addColumn("device_id", "text", (c) => c.notNull())
    .addColumn("txn_key", "text", (c) => c.notNull())
    .addColumn("created_at", "bigint", (c) => c.notNull())
    .addPrimaryKeyConstraint("to_device_txns_pk", ["user_id", "device_id", "txn_key"])
    .execute();
  await db.schema.createIndex("to_device_txns_age").on("to_device_txns").column("created_at").execute();

  await db.schema
    .createTable("device_list_changes")
    .addColumn("position", "bigint", (c) => c.notNull())
    .addColumn("user_id", "text", (c) => c.notNull())
    // null: everyone sharing a room with user_id sees it; else only this user does.
    .addColumn("visible_to", "text")
    .execute();
  await db.schema
    .createIndex("device_list_changes_pos")
    .on("device_list_changes")
    .column("position")
    .execute();

  await db.schema
    .createTable("device_list_room_changes")
    .addColumn("position", "bigint", (c) => c.notNull())
    .addColumn("room_id", "text", (c) => c.notNull())
    .addColumn("user_id", "text", (c) => c.notNull())
    .addColumn("membership", "text", (c) => c.notNull())
    .execute();
  await db.schema
    .createIndex("device_list_room_changes_pos")
    .on("device_list_room_changes")
    .column("position")
    .execute();

  await db.schema
    .createTable("cross_signing_keys")
    .addColumn("user_id", "text", (c) => c.notNull())
    .addColumn("key_type", "text", (c) => c.notNull())
    .addColumn("public_key", "text", (c) => c.notNull())
    .addColumn("key_json", "jsonb", (c) => c.notNull())
    .addPrimaryKeyConstraint("cross_signing_keys_pk", ["user_id", "key_type"])
    .execute();

  await db.schema
    .createTable("cross_signing_signatures")
    .addColumn("signer_user_id", "text", (c) => c.notNull())
    .addColumn("signer_key_id", "text", (c) => c.notNull())
    .addColumn("target_user_id", "text", (c) => c.notNull())
    // A device id, or the target's master public key.
    .addColumn("target_key_id", "text", (c) => c.notNull())
    .addColumn("signature", "text", (c) => c.notNull())
    .addPrimaryKeyConstraint("cross_signing_signatures_pk", [
      "signer_user_id",
      "signer_key_id",
      "target_user_id",
      "target_key_id",
    ])
    .execute();
  await db.schema
    .createIndex("cross_signing_signatures_target")
    .on("cross_signing_signatures")
    .columns(["target_user_id", "target_key_id"])
    .execute();
}
