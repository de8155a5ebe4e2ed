import type { Generated } from "kysely";

/** The identity service's tables (migrations/identity). */
export type IdentityTables = {
  users: {
    user_id: string;
    localpart: string;
    password_hash: string | null;
    displayname: string | null;
    avatar_url: string | null;
    is_admin: boolean;
    is_guest: boolean;
    deactivated: boolean;
    /** Deactivated with `erase` (migrations/identity/0200). */
    erased: Generated<boolean>;
    /** Shadow-banned by an admin (migrations/identity/0300). */
    shadow_banned: Generated<boolean>;
    created_at: number;
  };
  sessions: {
    id: string;
    user_id: string;
    device_id: string;
    token_hash: string;
    display_name: string | null;
    created_at: number;
    expires_at: number | null;
    last_seen_at: number | null;
    last_seen_ip: string | null;
  };
  refresh_tokens: {
    token_hash: string;
    session_id: string;
    created_at: number;
    used_at: number | null;
  };
  auth_logs: {
    id: Generated<number>;
    user_id: string | null;
    event: string;
    success: boolean;
    ip: string | null;
    created_at: number;
  };
  invite_codes: {
    code: string;
    uses_allowed: number | null;
    pending: number;
    completed: number;
    expiry_time: number | null;
    created_at: number;
  };
  user_settings: { user_id: string; key: string; value: unknown };
  /** Email validation sessions (migrations/identity/0400); the token only as its SHA-256. */
  email_verifications: {
    sid: string;
    client_secret: string;
    medium: string;
    address: string;
    next_link: string | null;
    last_send_attempt: number;
    token_hash: string;
    token_expires_at: number;
    created_at: number;
    validated_at: number | null;
  };
  /** Third-party identifiers bound to accounts (migrations/identity/0400). */
  user_threepids: {
    medium: string;
    address: string;
    user_id: string;
    validated_at: number;
    added_at: number;
  };
};
