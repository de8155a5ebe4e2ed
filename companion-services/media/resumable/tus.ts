import { randomUUID } from "node:crypto";
import { Server } from "@tus/server";
import { MatrixError } from "../../platform/errors.ts";
import type { Logger } from "../../platform/logger.ts";
import type { UploadFinisher } from "./complete.ts";
import { isTusError, tusErrorOf } from "./errors.ts";
import type { SessionsRepository } from "./sessions.repository.ts";
import type { SessionStore } from "./store.ts";
import { CONTENT_URI_HEADER } from "./web-bridge.ts";

export type TusServerDeps = {
  store: SessionStore;
  sessions: SessionsRepository;
  finisher: UploadFinisher;
  logger: Logger;
  basePath: string;
  maxUploadBytes: number;
};

/**
 * The @tus/server instance: session ids are UUIDs, Locations are relative to the request (so a
 * proxy in front needs no forwarding headers), `Upload-Length` is capped by the media size limit
 * (413), and the final PATCH (or a creation-with-upload that carried every byte) stores the media
 * and answers its mxc URI in `X-Nova-Content-Uri`. Its in-memory locker serialises requests to
 * one session in this process; the store's compare-and-set covers other processes.
 */
export function createTusServer(deps: TusServerDeps): Server {
  return new Server({
    path: deps.basePath,
    datastore: deps.store,
    maxSize: deps.maxUploadBytes,
    relativeLocation: true,
    namingFunction: () => randomUUID(),
    onUploadFinish: async (_req, upload) => {
      try {
        const row = await deps.sessions.find(upload.id);
        const mxc = row ? await deps.finisher.finish(row) : null;
        return mxc ? { headers: { [CONTENT_URI_HEADER]: mxc } } : {};
      } catch (err) {
        if (err instanceof MatrixError) throw tusErrorOf(err);
        throw err;
      }
    },
    onResponseError: (req, err) => {
      if (isTusError(err)) return undefined;
      deps.logger.error({ err, method: req.method }, "resumable upload failed");
      return { status_code: 500, body: "Internal server error" };
    },
  });
}
