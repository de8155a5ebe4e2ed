import type { Generated, Kysely } from "kysely";

/** The messaging tables of reports and OpenID tokens (migrations/messaging/0500_moderation.ts). */
export type ModerationTables = {
  /** Content reports for server admins: an event, a room or a user, by kind. */
  reports: {
    id: Generated<number>;
    kind: "event" | "room" | "user";
    reporter: string;
    room_id: string | null;
    event_id: string | null;
    target_user_id: string | null;
    reason: string | null;
    score: number | null;
    received_at: number;
  };
  /** OpenID tokens by SHA-256 of the token. */
  openid_tokens: { token_hash: string; user_id: string; expires_at: number };
};

export type ModerationDb = Kysely<ModerationTables>;
