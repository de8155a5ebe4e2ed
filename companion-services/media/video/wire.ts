import type { ReelInfo, VideoInfo, VideoStage, VideoVariant } from "../client.ts";
import { mxcOf } from "../ids.ts";
import type { ReelRow } from "./reels.repository.ts";
import type { VariantRow, VideoRow } from "./videos.repository.ts";

export const API = "/_nova/v1";
const STAGES: ReadonlySet<string> = new Set<VideoStage>([
  "queued",
  "probing",
  "transcoding",
  "ready",
  "failed",
]);
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Ids in paths are uuids; anything else is simply not found (and never reaches PostgreSQL). */
export function isUuid(s: string): boolean {
  return UUID.test(s);
}

export function toVideoInfo(row: VideoRow, variants: VariantRow[], serverName: string): VideoInfo {
  const stage = row.stage !== null && STAGES.has(row.stage) ? (row.stage as VideoStage) : "queued";
  return {
    id: row.id,
    mxc: mxcOf(serverName, row.upload_id),
    ownerId: row.owner_id,
    title: row.title,
    durationMs: row.duration_ms === null ? null : Number(row.duration_ms),
    codec: row.codec,
    createdAt: Number(row.created_at),
    stage,
    error: row.error,
    variants: variants.map(
      (v): VideoVariant => ({
        profile: v.profile,
        width: v.width,
        height: v.height,
        bitrate: v.bitrate,
        playlist: `${API}/videos/${row.id}/hls/${v.profile}/index.m3u8`,
      }),
    ),
    posterMxc: row.poster_mxc,
    views: Number(row.views ?? 0),
    watchMs: Number(row.watch_ms ?? 0),
  };
}

export function toReelInfo(row: ReelRow, video: VideoInfo): ReelInfo {
  return {
    id: row.id,
    videoId: row.video_id,
    ownerId: row.owner_id,
    caption: row.caption,
    createdAt: Number(row.created_at),
    video,
  };
}

/** The HTTP shape (snake_case) of a video. */
export function videoJson(v: VideoInfo) {
  return {
    id: v.id,
    mxc: v.mxc,
    owner_id: v.ownerId,
    title: v.title,
    duration_ms: v.durationMs,
    codec: v.codec,
    created_at: v.createdAt,
    stage: v.stage,
    error: v.error,
    variants: v.variants,
    poster_mxc: v.posterMxc,
    views: v.views,
    watch_ms: v.watchMs,
  };
}

export function reelJson(r: ReelInfo) {
  return {
    id: r.id,
    video_id: r.videoId,
    owner_id: r.ownerId,
    caption: r.caption,
    created_at: r.createdAt,
    video: videoJson(r.video),
  };
}

/** A reels page cursor: the last reel's `(created_at, id)`. */
export function encodeCursor(r: { createdAt: number; id: string }): string {
  return `${r.createdAt}_${r.id}`;
}

export function decodeCursor(s: string): { createdAt: number; id: string } | null {
  const m = /^(\d{1,16})_([0-9a-f-]{36})$/i.exec(s);
  if (!m || !isUuid(m[2]!)) return null;
  return { createdAt: Number(m[1]), id: m[2]!.toLowerCase() };
}
