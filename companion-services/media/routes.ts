import { invalidParam, MatrixError, unrecognized } from "../platform/errors.ts";
import type { Request, Response, Router } from "../platform/http/router.ts";
import { contentDisposition, isMediaType, SECURITY_HEADERS, servedType } from "./headers.ts";
import { localMediaId } from "./ids.ts";
import { checkFileName, thumbnailParams, timeoutMs, uploadFileName } from "./params.ts";
import { parseRange } from "./range.ts";
import type { MediaService, ReadyMedia } from "./service.ts";
import type { ThumbnailRequest } from "./thumbnails/sizes.ts";

/** What a preview_url route calls (preview/); absent when previews are off. */
export type Previewer = {
  preview(url: string, userId: string, ts?: number): Promise<Record<string, unknown>>;
};

export type MediaRoutesOptions = {
  maxUploadBytes: number;
  previewer: Previewer | null;
};

/** Legacy prefixes Synapse still serves (`/_matrix/media/{v3,r0,v1}`). */
const LEGACY = ["/_matrix/media/v3", "/_matrix/media/r0", "/_matrix/media/v1"];
const AUTHED = "/_matrix/client/v1/media";

/**
 * The Matrix content repository's HTTP API: authenticated media under `/_matrix/client/v1/media`,
 * uploads and the legacy paths under `/_matrix/media`. The same routes serve in the homeserver
 * (npm start) and in media's own process (`nova serve media`).
 */
export function mountMediaRoutes(router: Router, media: MediaService, opts: MediaRoutesOptions): void {
  const upload = { maxBody: opts.maxUploadBytes };

  const config = (): Response => ({ body: { "m.upload.size": opts.maxUploadBytes } });
  const preview = async (req: Request): Promise<Response> => {
    if (!opts.previewer) throw unrecognized("URL previews are disabled");
    const url = req.query.get("url");
    if (!url) throw new MatrixError(400, "M_MISSING_PARAM", "url is required");
    const tsRaw = req.query.get("ts");
    if (tsRaw !== null && !/^\d{1,15}$/.test(tsRaw)) throw invalidParam("ts must be an integer");
    return { body: await opts.previewer.preview(url, user(req), tsRaw === null ? undefined : Number(tsRaw)) };
  };

  const download = (legacy: boolean) => async (req: Request) =>
    serveDownload(media, req, await readyFor(media, req, legacy), req.params.fileName);
  const thumbnail = (legacy: boolean) => async (req: Request) => {
    const params = thumbnailParams(req.query);
    return serveThumbnail(media, req, await readyFor(media, req, legacy), params);
  };

  router.get(`${AUTHED}/config`, config);
  router.get(`${AUTHED}/preview_url`, preview);
  router.get(`${AUTHED}/download/:serverName/:mediaId`, download(false));
  router.get(`${AUTHED}/download/:serverName/:mediaId/:fileName`, download(false));
  router.get(`${AUTHED}/thumbnail/:serverName/:mediaId`, thumbnail(false));

  router.post("/_matrix/media/v1/create", async (req) => {
    const r = await media.create(user(req), req.ip);
    return { body: { content_uri: r.mxc, unused_expires_at: r.unusedExpiresAt } };
  });
  for (const prefix of LEGACY) {
    router.post(
      `${prefix}/upload`,
      async (req) => {
        const r = await media.upload({
          userId: user(req),
          bytes: req.rawBody,
          ip: req.ip,
          ...uploadMeta(req),
        });
        return { body: { content_uri: r.mxc } };
      },
      upload,
    );
    router.put(
      `${prefix}/upload/:serverName/:mediaId`,
      async (req) => {
        const id = localMediaId(req.params.serverName ?? "", req.params.mediaId ?? "", media.serverName);
        await media.put(user(req), id, { bytes: req.rawBody, ip: req.ip, ...uploadMeta(req) });
        return { body: {} };
      },
      upload,
    );
    router.get(`${prefix}/config`, config);
    router.get(`${prefix}/preview_url`, preview);
    // Deprecated and unauthenticated: only media from before the freeze (NOVA_MEDIA_LEGACY_FREEZE).
    router.get(`${prefix}/download/:serverName/:mediaId`, download(true), { auth: "none" });
    router.get(`${prefix}/download/:serverName/:mediaId/:fileName`, download(true), { auth: "none" });
    router.get(`${prefix}/thumbnail/:serverName/:mediaId`, thumbnail(true), { auth: "none" });
  }
}

function user(req: Request): string {
  if (!req.auth) throw new MatrixError(401, "M_MISSING_TOKEN", "Missing access token");
  return req.auth.userId;
}

function uploadMeta(req: Request): { contentType: string | undefined; uploadName: string | undefined } {
  const header = req.headers["content-type"];
  if (header !== undefined && header !== "" && !isMediaType(header))
    throw invalidParam("Invalid Content-Type");
  return { contentType: header ? header.trim() : undefined, uploadName: uploadFileName(req.rawQuery) };
}

async function readyFor(media: MediaService, req: Request, legacy: boolean): Promise<ReadyMedia> {
  const id = localMediaId(req.params.serverName ?? "", req.params.mediaId ?? "", media.serverName);
  return media.ready(id, { timeoutMs: timeoutMs(req.query), legacy, signal: req.aborted });
}

/** A thumbnail (inline, `thumbnail.<ext>`), or the original when it is no bigger than asked. */
export async function serveThumbnail(
  media: MediaService,
  req: Request,
  row: ReadyMedia,
  params: ThumbnailRequest,
): Promise<Response> {
  const thumb = await media.thumbnails().get(row, params);
  if (thumb.kind === "original") return serveDownload(media, req, row, undefined, true);
  return {
    raw: thumb.bytes,
    headers: {
      ...SECURITY_HEADERS,
      "Content-Type": thumb.contentType,
      "Content-Disposition": `inline; filename=thumbnail.${thumb.contentType.split("/")[1] ?? "bin"}`,
    },
  };
}

/**
 * The bytes with the spec's headers: type, disposition (the path's file name wins over the
 * upload's), a constant ETag (media never changes: If-None-Match → 304) and byte ranges.
 */
export async function serveDownload(
  media: MediaService,
  req: Request,
  row: ReadyMedia,
  pathFileName: string | undefined,
  asThumbnail = false,
): Promise<Response> {
  const type = servedType(row.content_type, row.sniffed_type);
  const fileName = pathFileName !== undefined ? checkFileName(pathFileName) : (row.upload_name ?? undefined);
  const etag = `"${row.sha256 ?? row.id}"`;
  const headers: Record<string, string> = {
    ...SECURITY_HEADERS,
    "Content-Type": type,
    "Content-Disposition": contentDisposition(type, asThumbnail ? null : (fileName ?? null), asThumbnail),
    ETag: etag,
  };
  if (req.headers["if-none-match"]?.split(",").some((t) => t.trim() === etag)) {
    return { status: 304, headers, raw: Buffer.alloc(0) };
  }
  const range = parseRange(req.headers.range, row.bytes);
  if (range.kind === "unsatisfiable") {
    return {
      status: 416,
      headers: { ...headers, "Content-Range": `bytes */${row.bytes}` },
      raw: Buffer.alloc(0),
    };
  }
  const bytes = await media.read(row, range.kind === "partial" ? range : undefined);
  if (!bytes) throw new MatrixError(404, "M_NOT_FOUND", "Media not found");
  if (range.kind === "partial") {
    return {
      status: 206,
      headers: { ...headers, "Content-Range": `bytes ${range.start}-${range.end}/${row.bytes}` },
      raw: bytes,
    };
  }
  return { headers, raw: bytes };
}
