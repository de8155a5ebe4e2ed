import type { Kysely } from "kysely";
import type { Router } from "../../platform/http/router.ts";
import type { Logger } from "../../platform/logger.ts";
import type { ReelInfo, VideoInfo } from "../client.ts";
import type { MediaLibrary } from "../library.ts";
import type { BlobStore } from "../storage/blob-store.ts";
import type { MediaTables } from "../tables.ts";
import { videoContext } from "./context.ts";
import { ReelService } from "./reels.ts";
import { mountVideoRoutes } from "./routes.ts";
import { type HlsFile, VideoService } from "./service.ts";
import { TranscodeWorkers } from "./worker.ts";

export type VideoPipelineSettings = {
  ffmpeg: string;
  ffprobe: string;
  /** Worker loops in this process; 0 runs none (another process transcodes). */
  workers: number;
  /** Attempts before a job is `dead` (default 3). */
  maxAttempts?: number;
  /** A claimed job's lease; renewed while it runs, reclaimable once it lapses (default 60 s). */
  visibilityTimeoutMs?: number;
  /** How often an idle worker looks for a job (default 1 s; a job queued in-process wakes it). */
  pollMs?: number;
  /** First retry's delay; doubles per attempt, with jitter (default 5 s). */
  retryBaseMs?: number;
  /** How long `stop()` lets running jobs finish before killing ffmpeg (default 5 s). */
  stopGraceMs?: number;
};

export type VideoPipeline = {
  videos: { getVideo(id: string): Promise<VideoInfo | null>; getReel(id: string): Promise<ReelInfo | null> };
  /** Registers an upload as the uploader's video and queues its transcode (or answers the existing one). */
  transcodeUpload(userId: string, mxc: string, title: string | null): Promise<{ videoId: string }>;
  /** One HLS file of a video (`profile` null: the master playlist); 404 for anything else. */
  hlsFile(id: string, profile: string | null, file: string): Promise<HlsFile>;
  mount(router: Router): void;
  start(): Promise<void>;
  stop(): Promise<void>;
};

/** Builds the video pipeline on media's database; the wiring calls this, never the repositories. */
export function createVideoPipeline(deps: {
  db: Kysely<MediaTables>;
  schema: string;
  library: MediaLibrary;
  blobs: BlobStore;
  logger: Logger;
  settings: VideoPipelineSettings;
}): VideoPipeline {
  const { settings } = deps;
  const ctx = videoContext(deps);
  const workers = new TranscodeWorkers(ctx, {
    ffmpeg: settings.ffmpeg,
    ffprobe: settings.ffprobe,
    workers: settings.workers,
    maxAttempts: settings.maxAttempts ?? 3,
    visibilityTimeoutMs: settings.visibilityTimeoutMs ?? 60_000,
    pollMs: settings.pollMs ?? 1_000,
    retryBaseMs: settings.retryBaseMs ?? 5_000,
    stopGraceMs: settings.stopGraceMs ?? 5_000,
  });
  const videos = new VideoService(ctx, () => workers.poke());
  const reels = new ReelService(ctx, videos);
  return {
    videos: { getVideo: (id) => videos.get(id), getReel: (id) => reels.get(id) },
    hlsFile: (id, profile, file) => videos.hlsFile(id, profile, file),
    transcodeUpload: (userId, mxc, title) => videos.create(userId, mxc, title),
    mount: (router) => mountVideoRoutes(router, videos, reels),
    start: async () => workers.start(),
    stop: () => workers.stop(),
  };
}
