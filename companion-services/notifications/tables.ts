import type { Generated } from "kysely";
import type { OutboxTables } from "../platform/outbox/tables.ts";

/**
 * What a notification is about. Room events map to messages / mentions (highlighting) / invites;
 * the social services' consumers bring the others. Preferences are per kind.
 */
export const NOTIFICATION_KINDS = [
  "messages",
  "mentions",
  "invites",
  "follows",
  "likes",
  "comments",
  "shares",
] as const;
export type NotificationKind = (typeof NOTIFICATION_KINDS)[number];

/** The room event a Matrix notification is for, as kept in `notifications.body` (the push payload's source). */
export type RoomEventBody = {
  event_id: string;
  room_id: string;
  type: string;
  sender: string;
  state_key?: string;
  origin_server_ts: number;
  /** As stored: the ciphertext for m.room.encrypted (the server never holds plaintext). */
  content: Record<string, unknown>;
  sender_display_name: string | null;
  room_name: string | null;
};

/** The notifications service's tables (migrations/notifications/0001, 0002). */
export type NotificationsTables = {
  notifications: {
    id: string;
    /** Cursor order (bigserial). */
    seq: Generated<number>;
    user_id: string;
    kind: NotificationKind;
    /** The bus event (envelope id) that caused it. */
    source_event_id: string | null;
    /** Set for room events (Matrix `/notifications`), null for social ones. */
    room_id: string | null;
    event_id: string | null;
    stream_position: number | null;
    highlight: Generated<boolean>;
    /** The push actions that made it notify (Matrix `/notifications` returns them). */
    actions: unknown[] | null;
    /** RoomEventBody for room events; the social services' own shape for theirs. */
    body: Record<string, unknown>;
    read_at: number | null;
    created_at: number;
  };
  /** Matrix pushers (`/pushers/set`), under the seed's name. */
  push_tokens: {
    user_id: string;
    app_id: string;
    pushkey: string;
    kind: "http" | "email";
    /** The device whose access token set the pusher: it goes with that device. */
    device_id: string | null;
    app_display_name: string;
    device_display_name: string;
    profile_tag: string | null;
    lang: string;
    /** `url` (http), `format` (`event_id_only`), and whatever else the app put there. */
    data: Record<string, unknown>;
    created_at: number;
    failing_since: number | null;
  };
  /** Deliveries still to make: one per (notification or badge update, pusher). */
  push_queue: {
    id: Generated<number>;
    user_id: string;
    app_id: string;
    pushkey: string;
    /** Null for a badge-only update. */
    notification_id: string | null;
    badge_only: Generated<boolean>;
    attempt: Generated<number>;
    next_attempt_at: number;
    /** A claimed row is someone's until then; after a crash it becomes due again. */
    leased_until: number | null;
    first_attempt_at: number | null;
    created_at: number;
  };
  /** One row per delivery attempt. */
  push_delivery_logs: {
    id: Generated<number>;
    notification_id: string | null;
    user_id: string;
    app_id: string;
    pushkey: string;
    attempt: number;
    /** delivered | retry | failed | rejected | gave_up */
    status: string;
    http_status: number | null;
    latency_ms: number | null;
    error: string | null;
    created_at: number;
  };
  notification_preferences: {
    user_id: string;
    kind: NotificationKind;
    enabled: boolean;
  };
  /** (user, key) pushed or stored inside the last minute; older rows are pruned. */
  notification_dedup: {
    user_id: string;
    dedup_key: string;
    created_at: number;
  };
} & OutboxTables;
