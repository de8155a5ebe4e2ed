import { fileURLToPath } from "node:url";
import * as grpc from "@grpc/grpc-js";
import { z } from "zod";
import type { Logger } from "../platform/logger.ts";
import { loadService } from "../platform/rpc/proto.ts";
import { listen, shutdown, unary } from "../platform/rpc/server.ts";
import { present } from "../platform/rpc/wire.ts";
import type { MediaClient, MediaInfo, ReelInfo, VideoInfo } from "./client.ts";
import { reelJson, videoJson } from "./video/wire.ts";

export const MEDIA_PROTO = {
  file: fileURLToPath(new URL("./media.proto", import.meta.url)),
  service: "nova.media.v1.Media",
} as const;

const mxc = z.string().startsWith("mxc://").max(512);
const uuid = z.string().uuid();
const schemas = {
  GetMedia: z.object({ mxc }),
  GetMediaBatch: z.object({ mxcs: z.array(mxc).max(1_000).optional() }),
  GetVideo: z.object({ video_id: uuid }),
  GetReel: z.object({ reel_id: uuid }),
};

export const mediaToWire = (m: MediaInfo) =>
  present({
    mxc: m.mxc,
    server_name: m.serverName,
    media_id: m.mediaId,
    user_id: m.userId,
    content_type: m.contentType,
    upload_name: m.uploadName,
    bytes: m.bytes,
    sha256: m.sha256,
    width: m.width,
    height: m.height,
    created_at: m.createdAt,
    pending: m.pending,
  });

/** The wire shape is the REST one (video/wire.ts) without its nulls. */
export const videoToWire = (v: VideoInfo) => present(videoJson(v));

const reelToWire = (r: ReelInfo) => present({ ...reelJson(r), video: videoToWire(r.video) });

/** Media's gRPC server over any MediaClient (the in-process MediaService). */
export function mediaGrpcServer(media: MediaClient, logger: Logger): grpc.Server {
  const Ctor = loadService(MEDIA_PROTO.file, MEDIA_PROTO.service);
  const server = new grpc.Server({ "grpc.max_receive_message_length": 1024 * 1024 });
  const u = <Req, Res>(method: string, schema: z.ZodType<Req>, fn: (req: Req) => Promise<Res>) =>
    unary<Req, Res>(logger, method, schema, (req) => fn(req));
  server.addService(Ctor.service, {
    GetMedia: u("GetMedia", schemas.GetMedia, async (r) => {
      const m = await media.getMedia(r.mxc);
      return m ? { media: mediaToWire(m) } : {};
    }),
    GetMediaBatch: u("GetMediaBatch", schemas.GetMediaBatch, async (r) => ({
      media: (await media.getMediaBatch(r.mxcs ?? [])).map(mediaToWire),
    })),
    GetVideo: u("GetVideo", schemas.GetVideo, async (r) => {
      const v = await media.getVideo(r.video_id);
      return v ? { video: videoToWire(v) } : {};
    }),
    GetReel: u("GetReel", schemas.GetReel, async (r) => {
      const reel = await media.getReel(r.reel_id);
      return reel ? { reel: reelToWire(reel) } : {};
    }),
  });
  return server;
}

/** Starts media's gRPC server on `address` (host:port; port 0 picks one). */
export async function startMediaGrpc(
  media: MediaClient,
  logger: Logger,
  address: string,
): Promise<{ port: number; close(): Promise<void> }> {
  const server = mediaGrpcServer(media, logger);
  const port = await listen(server, address);
  logger.info({ address, port }, "media gRPC listening");
  return { port, close: () => shutdown(server) };
}
