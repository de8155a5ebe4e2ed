import { z } from "zod";
import { fromZod, invalidParam, notFound } from "../../platform/errors.ts";
import type { Request, Response, Router } from "../../platform/http/router.ts";
import type { ReelService } from "./reels.ts";
import type { VideoService } from "./service.ts";
import { API, reelJson, videoJson } from "./wire.ts";

const uuid = z.string().uuid();
const caption = z.string().max(2_200).optional();
const createVideo = z.object({ mxc: z.string().max(1_024), title: z.string().max(300).optional() });
const createReel = z
  .object({ video_id: uuid.optional(), mxc: z.string().max(1_024).optional(), caption })
  .refine(
    (b) => (b.video_id === undefined) !== (b.mxc === undefined),
    "give exactly one of video_id and mxc",
  );
const view = z.object({
  view_id: z.string().min(1).max(128),
  watch_ms: z
    .number()
    .int()
    .min(0)
    .max(24 * 3600_000),
});
const page = z.object({
  from: z.string().max(128).optional(),
  limit: z.coerce.number().int().min(1).max(100).default(20),
});

const small = { maxBody: 16 * 1024 };

function user(req: Request): string {
  const id = req.auth?.userId;
  if (!id) throw invalidParam("no user");
  return id;
}

function query<T>(req: Request, schema: z.ZodType<T>): T {
  const parsed = schema.safeParse(Object.fromEntries(req.query));
  if (!parsed.success) throw fromZod(parsed.error, "M_INVALID_PARAM");
  return parsed.data;
}

function raw(file: { bytes: Buffer; contentType: string }, cache: string): Response {
  return { raw: file.bytes, headers: { "Content-Type": file.contentType, "Cache-Control": cache } };
}

/**
 * The video pipeline's HTTP paths, all behind an access token. Each handler parses its input,
 * calls one service method and shapes the answer.
 */
export function mountVideoRoutes(router: Router, videos: VideoService, reels: ReelService): void {
  router.post(
    `${API}/videos`,
    async (req) => {
      const body = req.json(createVideo);
      const out = await videos.create(user(req), body.mxc, body.title ?? null);
      return { status: 202, body: { video_id: out.videoId, stage: out.stage } };
    },
    small,
  );
  router.get(`${API}/videos/:id`, async (req) => ({ body: videoJson(await videos.require(req.params.id!)) }));
  router.delete(`${API}/videos/:id`, async (req) => {
    await videos.delete(user(req), req.params.id!);
    return { body: {} };
  });
  router.post(
    `${API}/videos/:id/views`,
    async (req) => {
      const body = req.json(view);
      const out = await videos.recordView(req.params.id!, body.view_id, body.watch_ms);
      return { body: { counted: out.counted, views: out.views, watch_ms: out.watchMs } };
    },
    small,
  );
  // Playlists and segments of a finished VOD never change: a player may keep them.
  router.get(`${API}/videos/:id/hls/:file`, async (req) =>
    raw(await videos.hlsFile(req.params.id!, null, req.params.file!), "private, max-age=3600"),
  );
  router.get(`${API}/videos/:id/hls/:profile/:file`, async (req) =>
    raw(
      await videos.hlsFile(req.params.id!, req.params.profile!, req.params.file!),
      "private, max-age=86400",
    ),
  );

  router.post(
    `${API}/reels`,
    async (req) => {
      const body = req.json(createReel);
      const c = body.caption ?? null;
      const reel = await reels.create(
        user(req),
        body.video_id !== undefined ? { videoId: body.video_id, caption: c } : { mxc: body.mxc!, caption: c },
      );
      return { status: 201, body: reelJson(reel) };
    },
    small,
  );
  router.get(`${API}/reels/:id`, async (req) => {
    const reel = await reels.get(req.params.id!);
    if (!reel) throw notFound("Reel not found");
    return { body: reelJson(reel) };
  });
  router.delete(`${API}/reels/:id`, async (req) => {
    await reels.delete(user(req), req.params.id!);
    return { body: {} };
  });
  router.get(`${API}/users/:userId/reels`, async (req) => {
    const userId = req.params.userId!;
    if (!userId.startsWith("@") || userId.length > 255) throw invalidParam("Invalid user id");
    const q = query(req, page);
    const out = await reels.list(userId, q.from ?? null, q.limit);
    return { body: { chunk: out.reels.map(reelJson), ...(out.next ? { next_batch: out.next } : {}) } };
  });
}
