import type { Kysely } from "kysely";
import type { Logger } from "../../platform/logger.ts";
import type { MediaLibrary } from "../library.ts";
import type { BlobStore } from "../storage/blob-store.ts";
import type { MediaTables } from "../tables.ts";
import { QueueRepository } from "./queue.repository.ts";
import { ReelsRepository } from "./reels.repository.ts";
import { VideosRepository } from "./videos.repository.ts";

/** What the pipeline's parts share: media's database, its outbox schema, storage, repositories. */
export type VideoContext = {
  db: Kysely<MediaTables>;
  schema: string;
  library: MediaLibrary;
  blobs: BlobStore;
  logger: Logger;
  videos: VideosRepository;
  reels: ReelsRepository;
  queue: QueueRepository;
};

export function videoContext(deps: {
  db: Kysely<MediaTables>;
  schema: string;
  library: MediaLibrary;
  blobs: BlobStore;
  logger: Logger;
}): VideoContext {
  return {
    ...deps,
    videos: new VideosRepository(deps.db),
    reels: new ReelsRepository(deps.db),
    queue: new QueueRepository(deps.db),
  };
}

/** Where a video's renditions live in the BlobStore. */
export const videoPrefix = (videoId: string) => `video/${videoId}/`;
export const masterKey = (videoId: string) => `video/${videoId}/master.m3u8`;
export const renditionKey = (videoId: string, profile: string, file: string) =>
  `video/${videoId}/${profile}/${file}`;

/** Deletes every blob under a video's prefix. */
export async function removeRenditions(blobs: BlobStore, videoId: string): Promise<void> {
  for (const key of await blobs.list(videoPrefix(videoId))) await blobs.delete(key);
}
