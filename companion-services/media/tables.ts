import type { Generated } from "kysely";
import type { OutboxTables } from "../platform/outbox/tables.ts";
import type { ResumableTables } from "./resumable/tables.ts";
import type { VideoTables } from "./video/tables.ts";

/** The content repository's tables (migrations/media/0001, 0002, 0006). */
export type ContentTables = {
  /** One row per media id, from `create` (bytes empty) or upload on. */
  uploads: {
    id: string;
    user_id: string;
    content_type: string | null;
    bytes: number | null;
    sha256: string | null;
    storage_key: string | null;
    created_at: number;
    upload_name: string | null;
    /** What the bytes are, by their magic numbers (file-type); null when unrecognised. */
    sniffed_type: string | null;
    /** Only on `/_matrix/client/v1/media/*` (uploaded after the legacy freeze). */
    authenticated: boolean;
    /** Set while the id waits for its bytes (MSC2246). */
    unused_expires_at: number | null;
    uploaded_at: number | null;
    quarantined: Generated<boolean>;
    /** The admin who quarantined it (set with `quarantined`; migrations/media/0006). */
    quarantined_by: string | null;
    /** Protected by an admin: never quarantined. */
    safe_from_quarantine: Generated<boolean>;
    last_access_at: number | null;
    width: number | null;
    height: number | null;
  };
  media_thumbnails: {
    media_id: string;
    width: number;
    height: number;
    method: "crop" | "scale";
    animated: boolean;
    content_type: string;
    bytes: number;
    storage_key: string;
    created_at: number;
  };
  url_previews: {
    url: string;
    og: Record<string, unknown>;
    fetched_at: number;
    expires_at: number;
  };
};

/** Media's own log of admin API calls (the homeserver's admin_audit_log is messaging's). */
export type MediaAdminTables = {
  media_admin_audit_log: {
    id: Generated<string>;
    user_id: string;
    method: string;
    path: string;
    status: number;
    ip: string | null;
    at: number;
  };
};

/** Every table the media service owns. */
export type MediaTables = ContentTables & ResumableTables & VideoTables & MediaAdminTables & OutboxTables;
