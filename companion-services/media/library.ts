import type { MediaInfo } from "./client.ts";
import type { BlobStore } from "./storage/blob-store.ts";

/**
 * The content repository as media's own parts see it (resumable uploads, URL previews, the video
 * pipeline): store a finished upload under the same rules as `POST /upload`, read one back.
 */
export interface MediaLibrary {
  readonly serverName: string;
  readonly blobs: BlobStore;
  /**
   * Stores a complete upload for `userId` (size limit, quota, sniffed type, thumbnails for
   * images, `media.uploaded` event) and returns its new id and mxc URI.
   */
  storeUpload(input: {
    userId: string;
    bytes: Buffer;
    contentType?: string | undefined;
    uploadName?: string | undefined;
  }): Promise<{ mediaId: string; mxc: string }>;
  /** Local media's row, or null (unknown, quarantined). */
  info(mediaId: string): Promise<MediaInfo | null>;
  /** Local media's bytes, or null (unknown, pending, quarantined). */
  bytes(mediaId: string): Promise<Buffer | null>;
}
