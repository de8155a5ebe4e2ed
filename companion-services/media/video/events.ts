import { z } from "zod";

/** The video pipeline's events (through media's outbox, topic `nova.video.events`, keyed by video id). */
export const VIDEO_AGGREGATE = "video";

export const videoReady = z.object({
  video_id: z.string().uuid(),
  owner_id: z.string().startsWith("@"),
  mxc: z.string().startsWith("mxc://"),
  duration_ms: z.number().int().nullable(),
  profiles: z.array(z.string()),
});

export const videoFailed = z.object({
  video_id: z.string().uuid(),
  owner_id: z.string().startsWith("@"),
  error: z.string(),
});

export const reelCreated = z.object({
  reel_id: z.string().uuid(),
  video_id: z.string().uuid(),
  owner_id: z.string().startsWith("@"),
});

export const reelDeleted = z.object({ reel_id: z.string().uuid(), owner_id: z.string().startsWith("@") });

export const VIDEO_EVENTS = {
  "video.ready": videoReady,
  "video.failed": videoFailed,
  "reel.created": reelCreated,
  "reel.deleted": reelDeleted,
} as const;
