import { z } from "zod";
import { VIDEO_EVENTS } from "./video/events.ts";

/**
 * The events media publishes through its outbox. Uploads on topic `nova.media.events`, keyed by
 * uploader (one user's uploads keep their order); the video pipeline's in video/events.ts.
 */
export const MEDIA_AGGREGATE = "media";

export const mediaUploaded = z.object({
  mxc: z.string().startsWith("mxc://"),
  media_id: z.string().min(1),
  user_id: z.string().startsWith("@"),
  content_type: z.string().nullable(),
  bytes: z.number().int().nonnegative(),
  sha256: z.string().length(64),
});

export const MEDIA_EVENTS = {
  "media.uploaded": mediaUploaded,
  ...VIDEO_EVENTS,
} as const;
