/** The video pipeline's tables (migrations/media/0001, extended by 0003). */
export type VideoTables = {
  videos: {
    id: string;
    upload_id: string;
    owner_id: string;
    title: string | null;
    duration_ms: number | null;
    codec: string | null;
    created_at: number;
    /** The poster frame, an upload of its own (0003). */
    poster_mxc: string | null;
  };
  /** Planned: no embedding model runs in this deployment, so nothing writes it. */
  video_embeddings: { video_id: string; model: string; vector: unknown };
  video_pipeline_state: { video_id: string; stage: string; error: string | null; updated_at: number };
  video_engagement: { video_id: string; views: number; watch_ms: number };
  /** One row per counted view: the same view_id is counted once (0003). */
  video_views: { view_id: string; video_id: string; watch_ms: number; created_at: number };
  reels: { id: string; video_id: string; owner_id: string; caption: string | null; created_at: number };
  /**
   * The durable transcode queue (0003): one job per video. `status` is queued | running | done |
   * failed (permanent: not a video) | dead (out of attempts). A running job whose `locked_until` has
   * passed is claimable again (its worker is presumed dead).
   */
  reel_transcode_jobs: {
    id: string;
    reel_id: string | null;
    video_id: string | null;
    profile: string;
    status: JobStatus;
    attempts: number;
    updated_at: number;
    run_after: number;
    locked_until: number | null;
    locked_by: string | null;
    last_error: string | null;
    created_at: number;
  };
  /** A video's HLS renditions, keyed (video_id, profile) since 0003. */
  reel_variants: {
    reel_id: string | null;
    video_id: string;
    profile: string;
    /** The rendition's playlist in the BlobStore (`video/<id>/<profile>/index.m3u8`). */
    storage_key: string;
    width: number;
    height: number;
    bitrate: number;
  };
};

export type JobStatus = "queued" | "running" | "done" | "failed" | "dead";
