/**
 * Who owns which table: the seed's ownership matrix (../shared/seed/service-data-ownership.md)
 * made concrete and checkable. Every table of the seed appears exactly once, under the one service
 * that writes it. `built` tables are created by that service's migrations (and only by them: see
 * test/platform/ownership.test.ts); of those, `written: false` ones exist but no code writes them
 * yet; `planned` ones are not created yet; `dropped` ones will not exist, each with the reason.
 * A service is `running` only when code in its folders writes its tables (the same test reads the
 * code to hold this file to it). docs/data-ownership.md is generated from this file
 * (`npm run docs:ownership`).
 */

export type TableStatus = "built" | "planned" | "dropped";

export type OwnedTable = {
  name: string;
  status: TableStatus;
  /** What the table holds in Nova (for seed tables: the Matrix meaning, DESIGN.md §4). */
  purpose: string;
  /** False for tables Nova adds that the seed does not list. */
  seed: boolean;
  /** Why a table is planned/dropped, or how it departs from the seed. */
  note?: string;
  /** False for a built table that no code writes yet (its migration reserved it). */
  written?: false;
};

export type ServiceOwnership = {
  /** Nova's name: the folder in migrations/ and companion-services/, the schema, the role. */
  service: string;
  /** The name(s) the seed uses for it. */
  seedNames: string[];
  /**
   * running: code in `code` writes its tables; planned: its tables are reserved (and perhaps
   * created by migrations) but no code writes them; none: it owns no table.
   */
  status: "running" | "planned" | "none";
  /** The folders holding the code that writes its tables (empty while planned). */
  code: string[];
  /** Migrations folder under migrations/ (absent for planned services). */
  migrations?: string;
  tables: OwnedTable[];
  note?: string;
};

const built = (name: string, purpose: string, note?: string): OwnedTable => ({
  name,
  status: "built",
  purpose,
  seed: true,
  ...(note ? { note } : {}),
});
const added = (name: string, purpose: string): OwnedTable => ({
  name,
  status: "built",
  purpose,
  seed: false,
});
/**
 * A derived read copy (search's index): the owner writes it only from other services' events
 * and can drop and rebuild it from the topics; no service's source of truth.
 */
const derived = (name: string, purpose: string): OwnedTable => ({
  name,
  status: "built",
  purpose,
  seed: false,
  note: "derived read copy: rebuildable from the topics (`nova search reindex`), written only by search",
});
/** Created by the service's migration so nobody else takes it; no code writes it yet. */
const reserved = (name: string, purpose: string): OwnedTable => ({
  name,
  status: "built",
  purpose,
  seed: true,
  written: false,
});
const planned = (name: string, purpose: string, note?: string): OwnedTable => ({
  name,
  status: "planned",
  purpose,
  seed: true,
  ...(note ? { note } : {}),
});
const dropped = (name: string, purpose: string, note: string): OwnedTable => ({
  name,
  status: "dropped",
  purpose,
  seed: true,
  note,
});

/**
 * The outbox and inbox every service owns in its own schema. The platform's outbox writer and
 * event consumer write them on the service's behalf, in the service's own transactions.
 */
const outboxTables = (
  uses: { publishes: boolean; consumes: boolean },
  status: TableStatus = "built",
): OwnedTable[] => [
  {
    name: "outbox_events",
    status,
    seed: true,
    purpose: "transactional outbox: events written with the business rows, published to Kafka",
    ...(status === "built" && !uses.publishes ? { written: false as const } : {}),
  },
  {
    name: "processed_events",
    status,
    seed: false,
    purpose:
      "event ids this service's consumers applied (idempotent consumers), same transaction as the effect",
    ...(status === "built" && !uses.consumes ? { written: false as const } : {}),
  },
];

export const OWNERSHIP: ServiceOwnership[] = [
  {
    service: "identity",
    seedNames: ["Auth Service", "identity-service"],
    status: "running",
    code: ["companion-services/identity"],
    migrations: "identity",
    tables: [
      built("users", "Matrix accounts: localpart, argon2id password hash, profile, admin/guest/deactivated"),
      built("sessions", "one row per logged-in device; the access token only as its SHA-256"),
      built("refresh_tokens", "single-use refresh tokens (hashed), rotated on /refresh"),
      built("auth_logs", "login/registration attempts, for audit and throttling"),
      {
        ...reserved("user_settings", "server-side per-user settings that are not Matrix account data"),
        note: "no setting lives outside Matrix account data yet",
      },
      built("invite_codes", "registration tokens (m.login.registration_token)"),
      built(
        "email_verifications",
        "3PID email validation sessions (requestToken, submit_token); the mailed token only as its SHA-256",
      ),
      dropped(
        "password_resets",
        "password reset via a validated email",
        "a reset is an email_verifications session that POST /account/password's m.login.email.identity stage consumes: no state of its own",
      ),
      added("user_threepids", "email addresses bound to accounts (login by email, password reset)"),
      planned("two_fa_sessions", "second-factor UIA stage state", "no 2FA UIA stage yet"),
      planned("two_fa_backup_codes", "second-factor recovery codes", "no 2FA UIA stage yet"),
      dropped(
        "jwt_signing_keys",
        "JWT key rotation",
        "Matrix access tokens are opaque random strings checked by hash, not JWTs: no signing keys",
      ),
      planned("oauth_connections", "SSO/OIDC provider links (m.login.sso)", "no SSO provider configured yet"),
      planned("passkey_credentials", "WebAuthn credentials", "no passkey login flow yet"),
      ...outboxTables({ publishes: true, consumes: false }),
    ],
  },
  {
    service: "messaging",
    seedNames: ["Messaging Service", "realtime-chat-service"],
    status: "running",
    code: ["server", "sync", "crypto", "calls"],
    migrations: "messaging",
    note: "the homeserver itself (server/, sync/, crypto/, calls/)",
    tables: [
      built("conversations", "rooms: version, creator, visibility"),
      built("conversation_members", "room membership per user"),
      dropped(
        "conversation_counters",
        "per-room and global stream positions",
        "replaced by one global sequence (stream_position_seq) that orders every stream; a counter row per room would serialise writers",
      ),
      built("messages", "room events (ciphertext for m.room.encrypted), ordered by stream position"),
      built("message_reactions", "m.annotation relations"),
      built("message_attachments", "mxc:// references of events"),
      built("message_edit_history", "m.replace relations"),
      built("message_relations", "every event relation: /relations, threads, server-side aggregations"),
      built("message_recalls", "redactions"),
      built("user_devices", "devices with their signed device keys"),
      built("olm_accounts", "dehydrated devices (MSC3814): client-encrypted pickles"),
      built("olm_one_time_keys", "one-time keys, each handed out once"),
      dropped(
        "olm_sessions",
        "1:1 Olm sessions",
        "Olm sessions live on devices; a Matrix server never holds them, not even encrypted",
      ),
      dropped(
        "megolm_outbound_sessions",
        "outbound Megolm sessions",
        "outbound sessions exist only on the sending device; the server relays and backs up, never sends",
      ),
      built("megolm_inbound_sessions", "server-side key backup: client-encrypted Megolm session data"),
      built("to_device_messages", "per-device inbox, deleted once the device acknowledges"),
      built("room_key_history", "key backup versions (/room_keys/version)"),
      built(
        "call_sessions",
        "group calls on the SFU: one call in one room until it empties (history, recovery)",
      ),
      built("call_participants", "one device's stay in a group call"),
      planned("user_locations", "live location sharing (beacons)", "no beacon support yet"),
      planned(
        "blocks",
        "ignored users (m.ignored_user_list) enforced when delivering events",
        "the seed also lists Graph as a writer: messaging owns it alone (see resolutions)",
      ),
      planned("message_requests", "invite gating for unknown senders", "no invite gating yet"),
      added("server_signing_keys", "the server's ed25519 signing keys for event hashes and signatures"),
      added("room_state", "current state of each room: (type, state_key) → event"),
      added("room_txns", "txnId idempotency of room sends"),
      added("room_aliases", "#alias:server → room id"),
      added("olm_fallback_keys", "fallback keys (MSC2732), one per device and algorithm"),
      added("to_device_txns", "txnId idempotency of /sendToDevice"),
      added("device_list_changes", "whose device keys changed, for device_lists in /sync and /keys/changes"),
      added("device_list_room_changes", "membership changes that start or stop two users sharing a room"),
      added("cross_signing_keys", "master, self-signing and user-signing keys"),
      added("cross_signing_signatures", "signatures uploaded through /keys/signatures/upload"),
      added("account_data", "global and per-room account data"),
      added("user_filters", "/user/{userId}/filter"),
      added("push_rules", "per-user push rules"),
      added("push_rule_default_overrides", "enabled/actions overrides of the server-default push rules"),
      added("receipts", "read receipts (m.read, m.read.private)"),
      added("reports", "content reports of events, rooms and users, for server admins"),
      added("openid_tokens", "OpenID tokens (hashed) exchanged at /federation/v1/openid/userinfo"),
      added(
        "sliding_sync_connections",
        "simplified sliding sync (MSC4186) connections per user, device and conn_id",
      ),
      added(
        "sliding_sync_positions",
        "the positions handed out on a sliding sync connection, with its state",
      ),
      added("admin_audit_log", "every admin API call (user, method, path, status, ip, time; no bodies)"),
      added("blocked_rooms", "rooms an admin blocked: joins refused"),
      added("server_notice_rooms", "each user's server notices room (admin send_server_notice)"),
      ...outboxTables({ publishes: true, consumes: false }).map((t) =>
        t.name === "outbox_events"
          ? {
              ...t,
              note: "room events with each recipient's push verdict, membership changes, read receipts and ignored-user lists (server/events.ts)",
            }
          : t,
      ),
    ],
  },
  {
    service: "graph",
    seedNames: ["User Service", "graph-service", "social-service"],
    status: "running",
    code: ["companion-services/graph"],
    migrations: "graph",
    note: "follows over /_nova/v1 and graph.proto; counts kept by its own consumer of its follow events",
    tables: [
      built("follows", "who follows whom, by Matrix user id"),
      built(
        "social_metadata",
        "follower/following counts per user: the row from identity's user.registered, the counts from graph's follow.* events",
      ),
      added(
        "graph_blocks",
        "a derived copy of messaging's m.ignored_user_list (account.ignored_users_changed): refused follows, hidden list entries",
      ),
      ...outboxTables({ publishes: true, consumes: true }),
    ],
  },
  {
    service: "content",
    seedNames: ["Content Service", "content-service"],
    status: "running",
    code: ["companion-services/content"],
    migrations: "content",
    note: "posts, comments, likes, shares and bookmarks over `/_nova/v1` and gRPC (GetPost, GetPosts, GetUserPosts); in the homeserver's process under npm start, `nova serve content` on its own",
    tables: [
      built(
        "posts",
        "posts: author, text, status (draft/published/deleted), visibility (public/followers), language, shared_post_id for shares",
      ),
      built(
        "post_metadata",
        "like/comment/share counts, kept by content's own idempotent consumer of its events",
      ),
      built("comments", "threaded comments on posts (parent_id in the same post), soft-deleted"),
      built("post_images", "images of a post (mxc:// URIs, checked against media)"),
      built("post_videos", "videos of a post (media-service video ids, by value)"),
      built("post_shares", "shares: one per user and post, the id of the sharer's share post"),
      built("likes", "likes of posts, one per user"),
      built("bookmarks", "saved posts, per user, optionally in a collection"),
      built("bookmark_collections", "bookmark folders, names unique per user"),
      ...outboxTables({ publishes: true, consumes: true }),
    ],
  },
  {
    service: "media",
    seedNames: ["Media Service", "Video Service (deprecated)"],
    status: "running",
    code: ["companion-services/media"],
    migrations: "media",
    note: "the Matrix content repository, resumable (tus) uploads, the video pipeline and reels; in the homeserver's process under npm start, `nova serve media` on its own",
    tables: [
      built(
        "uploads",
        "media: owner, type as uploaded and as sniffed, size, SHA-256, storage key; a row from MSC2246 `create` on",
      ),
      built("upload_sessions", "resumable (tus) uploads in progress: offset, declared length, metadata"),
      built("upload_chunks", "received parts of a resumable upload (one per PATCH), with their SHA-256"),
      built("videos", "video metadata: source upload, duration, codec, poster"),
      {
        ...reserved("video_embeddings", "vector embeddings for recommendations"),
        note: "no embedding model can run on this machine; nothing writes it",
      },
      built(
        "video_pipeline_state",
        "processing stage of each video (queued, probing, transcoding, ready, failed)",
      ),
      built("video_engagement", "view counts and watch time, from idempotent view events"),
      built("reels", "short-form videos, each on a video"),
      built(
        "reel_transcode_jobs",
        "the durable transcode queue (SKIP LOCKED claims, leases, backoff, dead state)",
      ),
      built("reel_variants", "HLS renditions of a video (360p, 720p, 1080p)"),
      added("media_thumbnails", "thumbnails of images: the spec's sizes made at upload, others on demand"),
      added("url_previews", "OpenGraph previews per URL (preview_url), cached for an hour"),
      added("video_views", "view ids already counted, so a view event counts once"),
      added(
        "media_admin_audit_log",
        "every media admin API call (Synapse's /_synapse/admin media paths): caller, method, path, status",
      ),
      ...outboxTables({ publishes: true, consumes: false }),
    ],
  },
  {
    service: "feed",
    seedNames: ["Feed Service"],
    status: "running",
    code: ["companion-services/feed"],
    migrations: "feed",
    note: "home timelines are derived data outside the database (Redis sorted sets with REDIS_URL, in-process otherwise), fed by content's and graph's events; its consumers' effects are idempotent on that store, so they keep no processed_events",
    tables: [
      built("user_feed_preferences", "per-user feed settings: muted authors, hide shares, languages"),
      ...outboxTables({ publishes: false, consumes: false }),
    ],
  },
  {
    service: "notifications",
    seedNames: ["Notification Service"],
    status: "running",
    code: ["companion-services/notifications"],
    migrations: "notifications",
    note: "Matrix pushers and push-gateway delivery, `/notifications`, in-app notifications and preferences, fed by the homeserver's room events; in the homeserver's process under npm start, `nova serve notifications` on its own",
    tables: [
      built(
        "notifications",
        "notifications per user: room events that notified (push actions, read state from receipts) and the social services' in-app ones",
      ),
      built(
        "push_tokens",
        "Matrix pushers (`/pushers/set`): app id, pushkey, gateway URL and format, the device that set them",
        "keyed by (app_id, pushkey, user) as the spec keys pushers; FCM/APNs tokens reach the gateway as pushkeys",
      ),
      built("push_delivery_logs", "every push attempt: status, HTTP status, latency, error"),
      built("notification_preferences", "per-user, per-kind toggles (messages, mentions, invites, follows…)"),
      built("notification_dedup", "(user, event) seen inside the one-minute window: pushed once"),
      added(
        "push_queue",
        "deliveries still to make, one per (notification or badge update, pusher): SKIP LOCKED claims, leases, backoff",
      ),
      dropped(
        "notification_jobs",
        "legacy job queue",
        "exists only in the seed's pending migrations; push_queue, fed by the consumer of events, replaces it",
      ),
      ...outboxTables({ publishes: false, consumes: true }),
    ],
  },
  {
    service: "streaming",
    seedNames: ["Streaming Service"],
    status: "planned",
    code: [],
    note: "no live streaming in Nova yet; its tables are reserved here so nobody else takes them",
    tables: [
      planned("streams", "live streams"),
      planned("stream_keys", "RTMP ingest keys"),
      planned("viewer_sessions", "viewer watch sessions"),
      planned("stream_metrics", "stream performance data (monthly partitions)"),
      planned("quality_levels", "stream quality options"),
    ],
  },
  {
    service: "experiments",
    seedNames: ["Experiments/Analytics"],
    status: "planned",
    code: [],
    note: "a separate service when built, not folded into another (its writers would otherwise be two)",
    tables: [
      planned("experiments", "A/B test definitions"),
      planned("experiment_variants", "test variants"),
      planned("experiment_assignments", "user → variant"),
      planned("experiment_results_cache", "aggregated results"),
      planned("experiment_metrics", "metrics data"),
    ],
  },
  {
    service: "search",
    seedNames: ["Search Service"],
    status: "running",
    code: ["companion-services/search"],
    migrations: "search",
    note: "owns no source data: its tables are a derived read model (tsvector + GIN, trigram on user names) built only by its consumers from identity's, content's and the homeserver's events, and rebuilt from the topics by `nova search reindex`; nobody else writes or reads them. Encrypted rooms are never indexed. In the homeserver's process under npm start, `nova serve search` on its own",
    tables: [
      derived(
        "search_users",
        "user ids and display names (from user.registered, user.profile_updated; gone on user.deactivated)",
      ),
      derived("search_posts", "posts' title and text while published (from post.published/updated/deleted)"),
      derived("search_comments", "comments' text (from comment.created/deleted; gone with their post)"),
      derived(
        "search_rooms",
        "rooms' join rule, name, topic and canonical alias from their state events, and whether the room is encrypted (for good)",
      ),
      derived(
        "search_room_events",
        "unencrypted rooms' m.room.message bodies, names and topics; dropped on redaction and when the room becomes encrypted",
      ),
      {
        ...added(
          "search_generation",
          "which generation of consumer groups feeds the read model (a reindex moves to the next)",
        ),
        note: "bookkeeping of the read model, reset with it",
      },
      ...outboxTables({ publishes: false, consumes: true }),
    ],
  },
  {
    service: "cdn",
    seedNames: ["CDN Service"],
    status: "none",
    code: [],
    note: "owns no table: configuration lives with the CDN provider",
    tables: [],
  },
];

/** Tables the migrator keeps in every schema; not business data, owned by the schema's service. */
export const MIGRATOR_TABLES = ["kysely_migration", "kysely_migration_lock"];

/** The tables a service's migrations must create, exactly. */
export function builtTables(service: string): string[] {
  const s = OWNERSHIP.find((o) => o.service === service);
  return (s?.tables ?? []).filter((t) => t.status === "built").map((t) => t.name);
}

/** Services that have a migrations folder. */
export function migratedServices(): string[] {
  return OWNERSHIP.filter((o) => o.migrations).map((o) => o.service);
}

/** service of a table name, when one owns it. */
export function ownerOf(table: string): string | undefined {
  return OWNERSHIP.find((o) => o.tables.some((t) => t.name === table && t.status !== "dropped"))?.service;
}
