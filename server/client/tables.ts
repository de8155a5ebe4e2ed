import type { Kysely } from "kysely";

/** The homeserver tables of the client-config area (migrations/messaging/03xx; filters belong to sync/filters). */
export type ClientTables = {
  account_data: {
    user_id: string;
    /** '' for global account data. */
    room_id: string;
    type: string;
    /** JSONB: written as a JSON string, read back parsed. */
    content: unknown;
    stream_pos: number;
  };
  push_rules: {
    user_id: string;
    kind: string;
    rule_id: string;
    priority: number;
    conditions: unknown | null;
    pattern: string | null;
    actions: unknown;
    enabled: boolean;
  };
  push_rule_default_overrides: {
    user_id: string;
    kind: string;
    rule_id: string;
    enabled: boolean | null;
    actions: unknown | null;
  };
  receipts: {
    room_id: string;
    user_id: string;
    receipt_type: string;
    /** '' for an unthreaded receipt. */
    thread_id: string;
    event_id: string;
    ts: number;
    stream_pos: number;
  };
};

export type ClientDb = Kysely<ClientTables>;
