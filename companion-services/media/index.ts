import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import type { IdentityClient } from "../identity/client.ts";
import type { ServiceDatabase } from "../platform/database.ts";
import { AdminRoutes, adminCheck } from "../platform/http/admin-routes.ts";
import type { Router } from "../platform/http/router.ts";
import type { Logger } from "../platform/logger.ts";
import type { LimitSpec } from "../platform/rate-limit.ts";
import { newRedis } from "../platform/redis.ts";
import { MediaAdminRepository } from "./admin/admin.repository.ts";
import { MediaAuditRepository } from "./admin/audit.repository.ts";
import { mountMediaAdminRoutes } from "./admin/routes.ts";
import { MediaAdmin } from "./admin/service.ts";
import { mountCdnRoutes } from "./cdn-routes.ts";
import type { MediaConfig } from "./config.ts";
import { UploadLimits } from "./limits.ts";
import { UrlPreviewer } from "./preview/previewer.ts";
import { createResumableUploads } from "./resumable/index.ts";
import { mountMediaRoutes } from "./routes.ts";
import { MediaService } from "./service.ts";
import type { BlobStore } from "./storage/blob-store.ts";
import { FilesystemBlobStore } from "./storage/filesystem.ts";
import type { MediaTables } from "./tables.ts";
import { Thumbnailer } from "./thumbnails/thumbnailer.ts";
import { UploadsRepository } from "./uploads.repository.ts";
import { createVideoPipeline } from "./video/index.ts";

export type { MediaClient, MediaInfo, ReelInfo, VideoInfo } from "./client.ts";
export type { MediaService } from "./service.ts";

export type MediaDeps = {
  database: ServiceDatabase<unknown>;
  settings: MediaConfig["media"];
  serverName: string;
  /** NOVA_DATA_DIR: the filesystem store defaults to `<dataDir>/media` (a temporary folder for memory://). */
  dataDir: string;
  /** REDIS_URL: upload rate limits shared by every media replica. */
  redisUrl?: string | undefined;
  /** NOVA_RATELIMIT_MEDIA_UPLOAD[_IP]: per-user and per-IP buckets on uploads; null is off. */
  uploadLimit: { user: LimitSpec | null; ip: LimitSpec | null };
  /** NOVA_RATELIMIT_EXEMPT: users never rate limited (admins never are either). */
  rateLimitExempt?: string[] | undefined;
  logger: Logger;
  /**
   * Who is a server admin (`getUser().isAdmin`) for the media admin API, and whose avatars a
   * bulk delete keeps. Without it (a media service built alone in a test) that API is not mounted.
   */
  identity?: MediaIdentity | undefined;
};

/** What media asks identity: in-process under npm start, over gRPC under `nova serve media`. */
export type MediaIdentity = Pick<IdentityClient, "getUser" | "getUsers">;

export type Media = {
  service: MediaService;
  blobs: BlobStore;
  /** Registers every media HTTP path on a router (the homeserver's, or media's own). */
  mount(router: Router): void;
  start(): Promise<void>;
  stop(): Promise<void>;
};

const SWEEP_MS = 10 * 60_000;

/** The parts of a process's configuration media is built from (NovaConfig has them all). */
export type MediaWiring = MediaConfig & {
  serverName: string;
  dataDir: string;
  redisUrl: string | undefined;
  /** The process's rate limits (server/operations-config.ts); media applies `media_upload`. */
  rateLimits: { media_upload: { user: LimitSpec | null; ip: LimitSpec | null } };
  rateLimitExempt: string[];
};

/** createMedia from the process's configuration, as `npm start` and `nova serve media` both do. */
export function createMediaFrom(
  database: ServiceDatabase<unknown>,
  config: MediaWiring,
  logger: Logger,
  identity: MediaIdentity,
): Promise<Media> {
  return createMedia({
    identity,
    database,
    settings: config.media,
    serverName: config.serverName,
    dataDir: config.dataDir,
    redisUrl: config.redisUrl,
    uploadLimit: config.rateLimits.media_upload,
    rateLimitExempt: config.rateLimitExempt,
    logger,
  });
}

/** Builds the media service on its own database; the wiring never touches its tables. */
export async function createMedia(deps: MediaDeps): Promise<Media> {
  const own = deps.database as ServiceDatabase<MediaTables>;
  const logger = deps.logger.child({ service: "media" });
  const { blobs, cleanup } = await openBlobStore(deps);
  const repo = new UploadsRepository(own.db);
  const redis = deps.redisUrl
    ? newRedis(deps.redisUrl, { maxRetriesPerRequest: 2, enableOfflineQueue: false })
    : null;
  redis?.on("error", (err: unknown) =>
    logger.warn({ err }, "media's Redis connection failed; rate limits fall back to this process"),
  );
  const service = new MediaService(
    own.db,
    repo,
    blobs,
    new UploadLimits({ ...deps.uploadLimit, quotaBytes: deps.settings.quotaBytes }, redis ?? undefined, {
      users: new Set(deps.rateLimitExempt ?? []),
      isAdmin: async (u) => (await deps.identity?.getUser(u))?.isAdmin ?? false,
    }),
    new Thumbnailer(repo, blobs, logger),
    logger,
    {
      serverName: deps.serverName,
      schema: own.schema,
      maxPending: deps.settings.maxPending,
      unusedExpiryMs: deps.settings.unusedExpiryMs,
      legacyFreezeTs: deps.settings.legacyFreezeTs,
    },
  );
  const previewer = deps.settings.previews.enabled
    ? new UrlPreviewer({ db: own.db, library: service, logger, settings: deps.settings.previews })
    : null;
  const resumable = createResumableUploads({
    db: own.db,
    library: service,
    blobs,
    logger,
    settings: { maxUploadBytes: deps.settings.maxUploadBytes },
  });
  const video = createVideoPipeline({
    db: own.db,
    schema: own.schema,
    library: service,
    blobs,
    logger,
    settings: {
      ffmpeg: deps.settings.ffmpeg,
      ffprobe: deps.settings.ffprobe,
      workers: deps.settings.transcodeWorkers,
    },
  });
  service.attachVideo({
    ...video.videos,
    ...(deps.settings.transcodeUploads ? { transcodeUpload: video.transcodeUpload } : {}),
  });
  const identity = deps.identity;
  const admin = identity
    ? new MediaAdmin(new MediaAdminRepository(own.db), repo, service, blobs, identity, logger)
    : null;
  const audit = new MediaAuditRepository(own.db);
  let sweeper: NodeJS.Timeout | null = null;
  return {
    service,
    blobs,
    mount(router) {
      mountMediaRoutes(router, service, { maxUploadBytes: deps.settings.maxUploadBytes, previewer });
      mountCdnRoutes(router, service, deps.settings.cdn, video.hlsFile);
      resumable.mount(router);
      video.mount(router);
      if (admin && identity) {
        mountMediaAdminRoutes(new AdminRoutes(router, adminCheck(identity), audit, logger), admin);
      }
    },
    async start() {
      sweeper = setInterval(() => {
        service
          .sweepExpired()
          .catch((err: unknown) => logger.warn({ err }, "sweeping expired media ids failed"));
      }, SWEEP_MS);
      sweeper.unref();
      resumable.start();
      await video.start();
    },
    async stop() {
      if (sweeper) clearInterval(sweeper);
      await video.stop();
      await resumable.stop();
      redis?.disconnect();
      await service.idle();
      await cleanup();
    },
  };
}

async function openBlobStore(deps: MediaDeps): Promise<{ blobs: BlobStore; cleanup: () => Promise<void> }> {
  const storage = deps.settings.storage;
  if (storage.kind === "s3") {
    // The AWS SDK is large: loaded only when S3 is the store.
    const { S3BlobStore } = await import("./storage/s3.ts");
    const s3 = new S3BlobStore(storage);
    await s3.ensureBucket();
    return { blobs: s3, cleanup: async () => s3.close() };
  }
  if (storage.dir) return { blobs: new FilesystemBlobStore(storage.dir), cleanup: async () => {} };
  if (deps.dataDir.startsWith("memory://")) {
    const dir = await mkdtemp(path.join(tmpdir(), "nova-media-"));
    return { blobs: new FilesystemBlobStore(dir), cleanup: () => rm(dir, { recursive: true, force: true }) };
  }
  return { blobs: new FilesystemBlobStore(path.join(deps.dataDir, "media")), cleanup: async () => {} };
}
