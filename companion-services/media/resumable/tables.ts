/** Resumable (tus) uploads' tables (migrations/media/0001). */
export type ResumableTables = {
  upload_sessions: {
    id: string;
    user_id: string;
    content_type: string | null;
    total_bytes: number | null;
    received_bytes: number;
    created_at: number;
    expires_at: number;
  };
  upload_chunks: { session_id: string; part: number; bytes: number; sha256: string };
};
