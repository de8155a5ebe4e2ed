import * as grpc from "@grpc/grpc-js";
import { type CallOptions, callUnary } from "../platform/rpc/client.ts";
import { loadService } from "../platform/rpc/proto.ts";
import type { MediaClient, MediaInfo, ReelInfo, VideoInfo, VideoStage } from "./client.ts";
import { MEDIA_PROTO } from "./grpc.ts";

type WireMedia = {
  mxc: string;
  server_name: string;
  media_id: string;
  user_id: string;
  content_type?: string;
  upload_name?: string;
  bytes?: number;
  sha256?: string;
  width?: number;
  height?: number;
  created_at: number;
  pending?: boolean;
};
type WireVariant = { profile: string; width: number; height: number; bitrate: number; playlist: string };
type WireVideo = {
  id: string;
  mxc: string;
  owner_id: string;
  title?: string;
  duration_ms?: number;
  codec?: string;
  created_at: number;
  stage: string;
  error?: string;
  variants?: WireVariant[];
  poster_mxc?: string;
  views?: number;
  watch_ms?: number;
};
type WireReel = {
  id: string;
  video_id: string;
  owner_id: string;
  caption?: string;
  created_at: number;
  video: WireVideo;
};

const STAGES: readonly VideoStage[] = ["queued", "probing", "transcoding", "ready", "failed"];

/** MediaClient over gRPC: every method is a read, idempotent and retried within its deadline. */
export class GrpcMediaClient implements MediaClient {
  private readonly client: grpc.Client;
  private readonly options: CallOptions;

  constructor(opts: { address: string; deadlineMs?: number; retries?: number }) {
    const Ctor = loadService(MEDIA_PROTO.file, MEDIA_PROTO.service);
    this.client = new Ctor(opts.address, grpc.credentials.createInsecure(), { "grpc.enable_retries": 0 });
    this.options = { deadlineMs: opts.deadlineMs ?? 5_000, retries: opts.retries ?? 2 };
  }

  close(): void {
    this.client.close();
  }

  async getMedia(mxc: string): Promise<MediaInfo | null> {
    const r = await callUnary<{ media?: WireMedia }>(this.client, "GetMedia", { mxc }, this.options);
    return r.media ? mediaFromWire(r.media) : null;
  }

  async getMediaBatch(mxcs: string[]): Promise<MediaInfo[]> {
    const r = await callUnary<{ media?: WireMedia[] }>(this.client, "GetMediaBatch", { mxcs }, this.options);
    return (r.media ?? []).map(mediaFromWire);
  }

  async getVideo(id: string): Promise<VideoInfo | null> {
    const r = await callUnary<{ video?: WireVideo }>(this.client, "GetVideo", { video_id: id }, this.options);
    return r.video ? videoFromWire(r.video) : null;
  }

  async getReel(id: string): Promise<ReelInfo | null> {
    const r = await callUnary<{ reel?: WireReel }>(this.client, "GetReel", { reel_id: id }, this.options);
    if (!r.reel) return null;
    return {
      id: r.reel.id,
      videoId: r.reel.video_id,
      ownerId: r.reel.owner_id,
      caption: r.reel.caption ?? null,
      createdAt: r.reel.created_at,
      video: videoFromWire(r.reel.video),
    };
  }
}

function mediaFromWire(m: WireMedia): MediaInfo {
  return {
    mxc: m.mxc,
    serverName: m.server_name,
    mediaId: m.media_id,
    userId: m.user_id,
    contentType: m.content_type ?? null,
    uploadName: m.upload_name ?? null,
    bytes: m.bytes ?? null,
    sha256: m.sha256 ?? null,
    width: m.width ?? null,
    height: m.height ?? null,
    createdAt: m.created_at,
    pending: m.pending ?? false,
  };
}

function videoFromWire(v: WireVideo): VideoInfo {
  const stage = STAGES.find((s) => s === v.stage) ?? "failed";
  return {
    id: v.id,
    mxc: v.mxc,
    ownerId: v.owner_id,
    title: v.title ?? null,
    durationMs: v.duration_ms ?? null,
    codec: v.codec ?? null,
    createdAt: v.created_at,
    stage,
    error: v.error ?? null,
    variants: v.variants ?? [],
    posterMxc: v.poster_mxc ?? null,
    views: v.views ?? 0,
    watchMs: v.watch_ms ?? 0,
  };
}
