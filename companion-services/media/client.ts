/**
 * What other services ask media (content's post images and videos, messaging's attachments):
 * the in-process service and the gRPC client both implement it.
 */
export type MediaInfo = {
  mxc: string;
  serverName: string;
  mediaId: string;
  userId: string;
  contentType: string | null;
  uploadName: string | null;
  /** Null while an async upload (MSC2246) waits for its bytes. */
  bytes: number | null;
  sha256: string | null;
  width: number | null;
  height: number | null;
  createdAt: number;
  pending: boolean;
};

export type VideoVariant = {
  profile: string;
  width: number;
  height: number;
  bitrate: number;
  /** The HLS playlist's path under the media service (`/_nova/v1/videos/{id}/hls/…`). */
  playlist: string;
};

export type VideoStage = "queued" | "probing" | "transcoding" | "ready" | "failed";

export type VideoInfo = {
  id: string;
  /** The source upload. */
  mxc: string;
  ownerId: string;
  title: string | null;
  durationMs: number | null;
  codec: string | null;
  createdAt: number;
  stage: VideoStage;
  error: string | null;
  variants: VideoVariant[];
  /** The poster image, an upload of its own. */
  posterMxc: string | null;
  views: number;
  watchMs: number;
};

export type ReelInfo = {
  id: string;
  videoId: string;
  ownerId: string;
  caption: string | null;
  createdAt: number;
  video: VideoInfo;
};

export interface MediaClient {
  getMedia(mxc: string): Promise<MediaInfo | null>;
  /** The known ones among `mxcs`, in no particular order. */
  getMediaBatch(mxcs: string[]): Promise<MediaInfo[]>;
  getVideo(id: string): Promise<VideoInfo | null>;
  getReel(id: string): Promise<ReelInfo | null>;
}
