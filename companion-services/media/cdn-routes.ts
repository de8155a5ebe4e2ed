import { z } from "zod";
import { forbidden, notFound, unrecognized } from "../platform/errors.ts";
import type { Request, Response, Router } from "../platform/http/router.ts";
import {
  CDN_MEDIA_PREFIX,
  CDN_VIDEOS_PREFIX,
  type CdnSettings,
  signedUrl,
  signPath,
  verifySigned,
} from "./cdn.ts";
import { localMediaId, parseMxc } from "./ids.ts";
import { thumbnailParams } from "./params.ts";
import { serveDownload, serveThumbnail } from "./routes.ts";
import type { MediaService } from "./service.ts";

/** Reads one HLS file of a video (the video pipeline's). */
export type HlsReader = (
  id: string,
  profile: string | null,
  file: string,
) => Promise<{ bytes: Buffer; contentType: string }>;

const signRequest = z.object({
  mxc: z.string().max(512).optional(),
  video_id: z.string().uuid().optional(),
  thumbnail: z
    .object({
      width: z.number().int().positive().max(10_000),
      height: z.number().int().positive().max(10_000),
      method: z.enum(["crop", "scale"]).default("scale"),
    })
    .optional(),
});

/**
 * Media through a CDN (docs/media.md): a client asks for a signed URL with its token; the CDN
 * fetches that URL without one, and the signature (HMAC-SHA256 with expiry, cdn.ts) is checked
 * here. Expired or forged → 403. Reads that pass are cacheable by the CDN until they expire.
 */
export function mountCdnRoutes(
  router: Router,
  media: MediaService,
  cdn: CdnSettings | undefined,
  hls: HlsReader | null,
): void {
  router.post("/_nova/v1/media/signed_url", async (req) => {
    if (!cdn) throw unrecognized("No CDN is configured (NOVA_CDN_BASE_URL)");
    const body = req.json(signRequest);
    const now = Date.now();
    if (body.video_id) {
      if (!hls || !(await media.getVideo(body.video_id))) throw notFound("Video not found");
      // HLS players resolve the playlists' relative URLs against the master's: the signature sits
      // in the path, over the video's prefix, so every rendition and segment below it carries it.
      const prefix = `${CDN_VIDEOS_PREFIX}${body.video_id}`;
      const expires = Math.floor(now / 1000) + cdn.ttlSeconds;
      const url = `${cdn.baseUrl}${prefix}/${expires}/${signPath(cdn.secret, prefix, expires)}/hls/master.m3u8`;
      return { body: { url, expires_at: expires * 1000 } };
    }
    const parsed = parseMxc(body.mxc ?? "");
    if (!parsed || parsed.serverName !== media.serverName) throw notFound("Media not found");
    if (!(await media.info(parsed.mediaId))) throw notFound("Media not found");
    let path = `${CDN_MEDIA_PREFIX}${parsed.serverName}/${parsed.mediaId}`;
    if (body.thumbnail)
      path += `/thumbnail/${body.thumbnail.width}x${body.thumbnail.height}/${body.thumbnail.method}`;
    return { body: { url: signedUrl(cdn, path, now), expires_at: now + cdn.ttlSeconds * 1000 } };
  });

  const check = (req: Request): number => {
    if (!cdn) throw unrecognized("No CDN is configured (NOVA_CDN_BASE_URL)");
    const verdict = verifySigned(cdn.secret, req.path, req.query, Date.now());
    if (verdict === "expired") throw forbidden("Signed URL expired");
    if (verdict !== "ok") throw forbidden("Invalid signature");
    return Number(req.query.get("expires")) * 1000 - Date.now();
  };
  const cacheFor = (out: Response, remainingMs: number): Response => ({
    ...out,
    headers: {
      ...out.headers,
      // The URL itself is the credential: a CDN may keep the bytes until it expires.
      "Cache-Control": `public, max-age=${Math.max(0, Math.floor(remainingMs / 1000))}, immutable`,
    },
  });

  router.get(
    `${CDN_MEDIA_PREFIX}:serverName/:mediaId`,
    async (req) => {
      const remaining = check(req);
      const id = localMediaId(req.params.serverName ?? "", req.params.mediaId ?? "", media.serverName);
      return cacheFor(
        await serveDownload(media, req, await media.ready(id, { timeoutMs: 0 }), undefined),
        remaining,
      );
    },
    { auth: "none" },
  );
  router.get(
    `${CDN_MEDIA_PREFIX}:serverName/:mediaId/thumbnail/:size/:method`,
    async (req) => {
      const remaining = check(req);
      const id = localMediaId(req.params.serverName ?? "", req.params.mediaId ?? "", media.serverName);
      const [w, h] = (req.params.size ?? "").split("x");
      const params = thumbnailParams(
        new URLSearchParams({ width: w ?? "", height: h ?? "", method: req.params.method ?? "" }),
      );
      const row = await media.ready(id, { timeoutMs: 0 });
      return cacheFor(await serveThumbnail(media, req, row, params), remaining);
    },
    { auth: "none" },
  );

  const videoCheck = (req: Request): number => {
    if (!cdn || !hls) throw unrecognized("No CDN is configured (NOVA_CDN_BASE_URL)");
    const prefix = `${CDN_VIDEOS_PREFIX}${req.params.id ?? ""}`;
    const signed = new URLSearchParams({ expires: req.params.expires ?? "", sig: req.params.sig ?? "" });
    const verdict = verifySigned(cdn.secret, prefix, signed, Date.now());
    if (verdict === "expired") throw forbidden("Signed URL expired");
    if (verdict !== "ok") throw forbidden("Invalid signature");
    return Number(req.params.expires) * 1000 - Date.now();
  };
  const hlsOut = async (req: Request, profile: string | null): Promise<Response> => {
    const remaining = videoCheck(req);
    const file = await (hls as HlsReader)(req.params.id ?? "", profile, req.params.file ?? "");
    return cacheFor({ raw: file.bytes, headers: { "Content-Type": file.contentType } }, remaining);
  };
  router.get(`${CDN_VIDEOS_PREFIX}:id/:expires/:sig/hls/:file`, (req) => hlsOut(req, null), { auth: "none" });
  router.get(
    `${CDN_VIDEOS_PREFIX}:id/:expires/:sig/hls/:profile/:file`,
    (req) => hlsOut(req, req.params.profile ?? ""),
    {
      auth: "none",
    },
  );
}
