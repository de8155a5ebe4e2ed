import type { MediaClient } from "../media/client.ts";
import { invalidParam } from "../platform/errors.ts";
import { isUuid } from "./cursor.ts";

/**
 * A post's images and videos must be the poster's own uploads, finished, and of the right kind:
 * media answers (in-process or over gRPC); content keeps the ids by value.
 */
export async function checkPostMedia(
  media: Pick<MediaClient, "getMediaBatch" | "getVideo">,
  authorId: string,
  images: string[],
  videos: string[],
): Promise<void> {
  if (new Set(images).size !== images.length) throw invalidParam("images: the same image twice");
  if (new Set(videos).size !== videos.length) throw invalidParam("videos: the same video twice");
  if (images.length > 0) {
    const known = new Map((await media.getMediaBatch(images)).map((m) => [m.mxc, m]));
    for (const mxc of images) {
      const m = known.get(mxc);
      if (!m || m.userId !== authorId) throw invalidParam(`images: ${mxc} is not an upload of yours`);
      if (m.pending) throw invalidParam(`images: ${mxc} has no content yet`);
      if (!m.contentType?.startsWith("image/")) throw invalidParam(`images: ${mxc} is not an image`);
    }
  }
  for (const id of videos) {
    const v = isUuid(id) ? await media.getVideo(id) : null;
    if (!v || v.ownerId !== authorId) throw invalidParam(`videos: ${id} is not a video of yours`);
    if (v.stage === "failed") throw invalidParam(`videos: ${id} failed to transcode`);
  }
}
