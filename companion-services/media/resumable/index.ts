import type { Server } from "@tus/server";
import type { Kysely } from "kysely";
import type { Router } from "../../platform/http/router.ts";
import type { Logger } from "../../platform/logger.ts";
import type { MediaLibrary } from "../library.ts";
import type { BlobStore } from "../storage/blob-store.ts";
import type { MediaTables } from "../tables.ts";
import { SessionChunks } from "./chunks.ts";
import { UploadFinisher } from "./complete.ts";
import { mountResumableRoutes } from "./routes.ts";
import { SessionsRepository } from "./sessions.repository.ts";
import { Sweeper } from "./sweep.ts";

const MiB = 1024 * 1024;

export type ResumableSettings = {
  /** Largest upload (`Upload-Length`), bytes: the media service's `maxUploadBytes`. */
  maxUploadBytes: number;
  /** Largest body of one PATCH; default min(maxUploadBytes, 8 MiB). */
  chunkMaxBytes?: number;
  /** How long a session lives from its creation; default 24 h. */
  expiryMs?: number;
  /** Where the endpoints are; default `/_nova/v1/media/uploads`. */
  basePath?: string;
};

export type ResumableUploadsDeps = {
  db: Kysely<MediaTables>;
  library: MediaLibrary;
  blobs: BlobStore;
  logger: Logger;
  settings: ResumableSettings;
};

export type ResumableUploads = {
  /** Registers the tus endpoints (see routes.ts) on the router. */
  mount(router: Router): void;
  /** Removes expired sessions and their chunks now; returns how many went. */
  sweep(): Promise<number>;
  /** Sweeps periodically (every min(expiry / 4, 10 min)). */
  start(): void;
  /** Stops sweeping, waiting for a sweep in progress. */
  stop(): Promise<void>;
};

/** Resumable chunked uploads (tus 1.0.0 on @tus/server) into the media library. */
export function createResumableUploads(deps: ResumableUploadsDeps): ResumableUploads {
  const maxUploadBytes = deps.settings.maxUploadBytes;
  const chunkMaxBytes = deps.settings.chunkMaxBytes ?? Math.min(maxUploadBytes, 8 * MiB);
  const expiryMs = deps.settings.expiryMs ?? 24 * 3600_000;
  const basePath = (deps.settings.basePath ?? "/_nova/v1/media/uploads").replace(/\/+$/, "");

  const sessions = new SessionsRepository(deps.db);
  const chunks = new SessionChunks({ sessions, blobs: deps.blobs, logger: deps.logger });
  const finisher = new UploadFinisher({ sessions, chunks, blobs: deps.blobs, library: deps.library });
  // @tus/server (and @tus/utils, ~40 files) loads with the first upload request, not at start.
  let tus: Promise<Server> | undefined;
  const tusServer = () => {
    tus ??= Promise.all([import("./store.ts"), import("./tus.ts")]).then(
      ([{ SessionStore }, { createTusServer }]) => {
        const store = new SessionStore({ sessions, blobs: deps.blobs, logger: deps.logger, expiryMs });
        return createTusServer({ store, sessions, finisher, logger: deps.logger, basePath, maxUploadBytes });
      },
    );
    return tus;
  };
  const sweeper = new Sweeper(() => chunks.deleteExpired(), Math.min(expiryMs / 4, 10 * 60_000), deps.logger);

  return {
    mount: (router) =>
      mountResumableRoutes(router, { tus: tusServer, sessions, finisher, basePath, chunkMaxBytes }),
    sweep: () => sweeper.sweep(),
    start: () => sweeper.start(),
    stop: () => sweeper.stop(),
  };
}
