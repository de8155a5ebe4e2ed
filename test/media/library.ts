import type { Kysely } from "kysely";
import { UploadLimits } from "../../companion-services/media/limits.ts";
import { MediaService } from "../../companion-services/media/service.ts";
import type { BlobStore } from "../../companion-services/media/storage/blob-store.ts";
import type { MediaTables } from "../../companion-services/media/tables.ts";
import { Thumbnailer } from "../../companion-services/media/thumbnails/thumbnailer.ts";
import { UploadsRepository } from "../../companion-services/media/uploads.repository.ts";
import type { Logger } from "../../companion-services/platform/logger.ts";

/**
 * The real content repository on a test's database and BlobStore, without the rest of the media
 * service (routes, previews, its own video pipeline), for tests and benchmarks of one part of it.
 */
export function contentRepository(opts: {
  db: Kysely<MediaTables>;
  schema: string;
  blobs: BlobStore;
  serverName: string;
  logger: Logger;
}): MediaService {
  const repo = new UploadsRepository(opts.db);
  return new MediaService(
    opts.db,
    repo,
    opts.blobs,
    new UploadLimits({ user: { rate: 1_000, burst: 1_000 }, ip: null, quotaBytes: 0 }),
    new Thumbnailer(repo, opts.blobs, opts.logger),
    opts.logger,
    {
      serverName: opts.serverName,
      schema: opts.schema,
      maxPending: 5,
      unusedExpiryMs: 86_400_000,
      legacyFreezeTs: 0,
    },
  );
}
