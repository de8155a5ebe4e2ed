/** Resumable (tus) uploads' tables (migrations/media/0001, 0004). */
export type ResumableTables = {
  upload_sessions: {
    /** A UUID, the last segment of the upload URL. */
    id: string;
    /** The Matrix user who created it; only they see it. */
    user_id: string;
    /** From the tus metadata key `filetype`. */
    content_type: string | null;
    /** `Upload-Length`; never null (Upload-Defer-Length is refused). */
    total_bytes: number | null;
    /** The tus offset: bytes acknowledged so far, advanced only by compare-and-set. */
    received_bytes: number;
    created_at: number;
    expires_at: number;
    /** From the tus metadata key `filename`. */
    upload_name: string | null;
    /** The `Upload-Metadata` header as created (tus's encoding: `key base64,key base64`). */
    metadata: string | null;
    /** The media the completed upload was stored as; null until then. */
    media_id: string | null;
    completed_at: number | null;
  };
  /** One row per PATCH that carried bytes: its blob is `chunks/<session_id>/<part>`. */
  upload_chunks: { session_id: string; part: number; bytes: number; sha256: string };
};
