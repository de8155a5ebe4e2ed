import type { Server } from "@tus/server";
import { invalidParam, MatrixError, missingToken, notFound } from "../../platform/errors.ts";
import type { Request, Response, Router } from "../../platform/http/router.ts";
import { uploadCaller } from "./caller.ts";
import type { UploadFinisher } from "./complete.ts";
import type { SessionRow, SessionsRepository } from "./sessions.repository.ts";
import { CONTENT_URI_HEADER, EXPOSED_HEADERS, fromWebResponse, toWebRequest } from "./web-bridge.ts";

export type ResumableRoutesDeps = {
  /** The tus server, made (and @tus/server loaded) by the first request that needs it. */
  tus: () => Promise<Server>;
  sessions: SessionsRepository;
  finisher: UploadFinisher;
  basePath: string;
  /** Largest body of one PATCH (or of a creation-with-upload POST). */
  chunkMaxBytes: number;
};

/** Session ids are UUIDs as minted (lowercase): chunk blob keys are built from them. */
const SESSION_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/**
 * The tus endpoints (protocol 1.0.0), all behind the Matrix access token:
 *
 * - `POST   {base}`       creation (`Upload-Length`, `Upload-Metadata` with `filetype`/`filename`);
 *                         201 with a relative `Location: {base}/{id}`. `Upload-Defer-Length` is
 *                         refused (501); `Upload-Length` over the media limit is 413 M_TOO_LARGE.
 * - `HEAD   {base}/{id}`  the offset; once complete also `X-Nova-Content-Uri: mxc://…`.
 * - `PATCH  {base}/{id}`  `Upload-Offset` + bytes (`application/offset+octet-stream`, at most
 *                         `chunkMaxBytes`); the final one answers `X-Nova-Content-Uri`.
 * - `DELETE {base}/{id}`  termination.
 * - `GET    {base}/{id}`  (not tus) JSON `{content_uri, offset, length}`; `content_uri` is null
 *                         until the last byte has arrived.
 *
 * A session belongs to its creator: anyone else's id, like an unknown or swept one, is 404.
 * OPTIONS is answered by the HTTP front itself (CORS), not by tus.
 */
export function mountResumableRoutes(router: Router, deps: ResumableRoutesDeps): void {
  const base = deps.basePath;
  const bodyLimit = { maxBody: deps.chunkMaxBytes };

  const forward = async (req: Request, extra?: Record<string, string>): Promise<Response> => {
    const userId = caller(req);
    const webReq = toWebRequest(req);
    const tus = await deps.tus();
    const res = await uploadCaller.run({ userId }, () => tus.handleWeb(webReq));
    return fromWebResponse(res, req.method, extra);
  };

  const owned = async (req: Request): Promise<SessionRow> => {
    const id = req.params.id ?? "";
    if (!SESSION_ID.test(id)) throw invalidParam("Invalid upload id");
    const row = await deps.sessions.find(id);
    if (!row || row.user_id !== caller(req)) throw notFound("Upload not found");
    return row;
  };

  router.add("POST", base, (req) => forward(req), bodyLimit);

  router.add("GET", `${base}/:id`, async (req) => {
    if (req.method === "HEAD") return headOf(req);
    const row = await owned(req);
    const contentUri = await deps.finisher.finish(row);
    return { body: { content_uri: contentUri, offset: row.received_bytes, length: row.total_bytes } };
  });

  const headOf = async (req: Request): Promise<Response> => {
    try {
      const row = await owned(req);
      const res = await forward(req);
      if (res.status !== 200) return res;
      const mxc = await deps.finisher.finish(row);
      return mxc ? { ...res, headers: { ...res.headers, [CONTENT_URI_HEADER]: mxc } } : res;
    } catch (err) {
      // A HEAD answer has no body: the status (and tus's headers) say it all.
      if (err instanceof MatrixError) {
        return {
          status: err.status,
          raw: Buffer.alloc(0),
          headers: { "Tus-Resumable": "1.0.0", "Access-Control-Expose-Headers": EXPOSED_HEADERS },
        };
      }
      throw err;
    }
  };

  router.add(
    "PATCH",
    `${base}/:id`,
    async (req) => {
      await owned(req);
      // Only a deferred length may be declared on PATCH, and none is ever deferred here (tus
      // would say 501, as if the client had asked for a feature rather than sent a bad request).
      if (req.headers["upload-length"] !== undefined) {
        throw invalidParam("Upload-Length was declared at creation and cannot be changed");
      }
      return forward(req);
    },
    bodyLimit,
  );

  router.add("DELETE", `${base}/:id`, async (req) => {
    await owned(req);
    return forward(req);
  });
}

function caller(req: Request): string {
  const userId = req.auth?.userId;
  if (!userId) throw missingToken();
  return userId;
}
