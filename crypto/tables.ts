import type { ColumnType, Generated } from "kysely";

/** A JSON object as stored in a jsonb column. */
export type JsonObject = Record<string, unknown>;
/** A key backup's auth_data: an object by the spec, a string as Synapse also keeps. */
export type BackupAuthData = JsonObject | string;

/**
 * A jsonb column: read back parsed as `S`, written as its JSON text (the repositories pass
 * `JSON.stringify(value)`, which PostgreSQL parses into jsonb).
 */
export type JsonColumn<S> = ColumnType<S, string, string>;

/** The crypto area's tables in the messaging database (migrations/messaging/0200_crypto.ts). */
export type CryptoTables = {
  user_devices: {
    user_id: string;
    device_id: string;
    display_name: string | null;
    device_keys: ColumnType<JsonObject | null, string | null, string | null>;
    dehydrated: boolean;
    created_at: number;
  };
  olm_one_time_keys: {
    id: Generated<number>;
    user_id: string;
    device_id: string;
    algorithm: string;
    key_id: string;
    key_json: JsonColumn<JsonObject | string>;
  };
  olm_fallback_keys: {
    user_id: string;
    device_id: string;
    algorithm: string;
    key_id: string;
    key_json: JsonColumn<JsonObject>;
    used: boolean;
  };
  olm_accounts: {
    user_id: string;
    device_id: string;
    device_data: JsonColumn<JsonObject>;
    created_at: number;
  };
  room_key_history: {
    user_id: string;
    version: number;
    algorithm: string;
    auth_data: JsonColumn<BackupAuthData>;
    etag: number;
    deleted: boolean;
  };
  megolm_inbound_sessions: {
    user_id: string;
    version: number;
    room_id: string;
    session_id: string;
    first_message_index: number;
    forwarded_count: number;
    is_verified: boolean;
    session_data: JsonColumn<JsonObject>;
  };
  to_device_messages: {
    user_id: string;
    device_id: string;
    position: number;
    sender: string;
    type: string;
    content: JsonColumn<JsonObject>;
  };
  to_device_txns: {
    user_id: string;
    device_id: string;
    txn_key: string;
    created_at: number;
  };
  device_list_changes: {
    position: number;
    user_id: string;
    visible_to: string | null;
  };
  device_list_room_changes: {
    position: number;
    room_id: string;
    user_id: string;
    membership: string;
  };
  cross_signing_keys: {
    user_id: string;
    key_type: string;
    public_key: string;
    key_json: JsonColumn<JsonObject>;
  };
  cross_signing_signatures: {
    signer_user_id: string;
    signer_key_id: string;
    target_user_id: string;
    target_key_id: string;
    signature: string;
  };
};
