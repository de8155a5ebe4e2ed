/** The video pipeline's tables (migrations/media/0001; the video helper extends them). */
export type VideoTables = {
  videos: {
    id: string;
    upload_id: string;
    owner_id: string;
    title: string | null;
    duration_ms: number | null;
    codec: string | null;
    created_at: number;
  };
  video_embeddings: { video_id: string; model: string; vector: unknown };
  video_pipeline_state: { video_id: string; stage: string; error: string | null; updated_at: number };
  video_engagement: { video_id: string; views: number; watch_ms: number };
  reels: { id: string; video_id: string; owner_id: string; caption: string | null; created_at: number };
  reel_transcode_jobs: {
    id: string;
    reel_id: string;
    profile: string;
    status: string;
    attempts: number;
    updated_at: number;
  };
  reel_variants: {
    reel_id: string;
    profile: string;
    storage_key: string;
    width: number;
    height: number;
    bitrate: number;
  };
};
