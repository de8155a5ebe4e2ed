import { mkdir, readdir, readFile } from "node:fs/promises";
import path from "node:path";
import type { ProbeResult } from "./probe.ts";
import type { Rendition } from "./profiles.ts";
import { run } from "./spawn.ts";

/** Seconds per HLS segment; keyframes are forced on this grid so every rendition switches cleanly. */
export const SEGMENT_SECONDS = 2;
export const SEGMENT_FILE = /^seg_\d{3,6}\.ts$/;
export const PLAYLIST_FILE = "index.m3u8";

/**
 * The one ffmpeg command that decodes the source once and encodes every rendition as VOD HLS
 * (H.264 main + AAC, `<out>/<profile>/index.m3u8` and `seg_NNN.ts`).
 */
export function hlsArgs(source: string, out: string, renditions: Rendition[], audio: boolean): string[] {
  const n = renditions.length;
  const split = `[0:v]split=${n}${renditions.map((_, i) => `[s${i}]`).join("")}`;
  const scales = renditions.map((r, i) => `[s${i}]scale=${r.width}:${r.height},setsar=1[v${i}]`);
  const args = [
    "-hide_banner",
    "-nostdin",
    "-y",
    "-i",
    source,
    "-filter_complex",
    [split, ...scales].join(";"),
  ];
  renditions.forEach((r, i) => {
    args.push("-map", `[v${i}]`);
    if (audio) args.push("-map", "0:a:0");
    args.push(
      `-b:v:${i}`,
      `${r.videoKbps}k`,
      `-maxrate:v:${i}`,
      `${Math.round(r.videoKbps * 1.07)}k`,
      `-bufsize:v:${i}`,
      `${r.videoKbps * 1.5}k`,
    );
    if (audio) args.push(`-b:a:${i}`, `${r.audioKbps}k`);
  });
  args.push(
    "-c:v",
    "libx264",
    "-preset",
    "veryfast",
    "-profile:v",
    "main",
    "-pix_fmt",
    "yuv420p",
    "-force_key_frames",
    `expr:gte(t,n_forced*${SEGMENT_SECONDS})`,
    "-sc_threshold",
    "0",
  );
  if (audio) args.push("-c:a", "aac", "-ac", "2", "-ar", "48000");
  const streamMap = renditions.map((r, i) =>
    audio ? `v:${i},a:${i},name:${r.name}` : `v:${i},name:${r.name}`,
  );
  args.push(
    "-f",
    "hls",
    "-hls_time",
    String(SEGMENT_SECONDS),
    "-hls_playlist_type",
    "vod",
    "-hls_flags",
    "independent_segments",
    "-hls_segment_filename",
    path.join(out, "%v", "seg_%03d.ts"),
    "-var_stream_map",
    streamMap.join(" "),
    path.join(out, "%v", PLAYLIST_FILE),
  );
  return args;
}

/** A JPEG frame a second in (or mid-way through a shorter clip), at most 720 on its long side. */
export function posterArgs(source: string, file: string, probe: ProbeResult): string[] {
  const at = Math.min(1, probe.durationMs / 2000).toFixed(3);
  const scale = probe.width >= probe.height ? "scale='min(720,iw)':-2" : "scale=-2:'min(720,ih)'";
  return [
    "-hide_banner",
    "-nostdin",
    "-y",
    "-ss",
    at,
    "-i",
    source,
    "-frames:v",
    "1",
    "-vf",
    scale,
    "-q:v",
    "3",
    file,
  ];
}

/** The master playlist, written by us so BANDWIDTH and RESOLUTION are the ladder's own numbers. */
export function masterPlaylist(renditions: Rendition[]): string {
  const lines = ["#EXTM3U", "#EXT-X-VERSION:3", "#EXT-X-INDEPENDENT-SEGMENTS"];
  for (const r of renditions) {
    lines.push(`#EXT-X-STREAM-INF:BANDWIDTH=${r.bandwidth},RESOLUTION=${r.width}x${r.height}`);
    lines.push(`${r.name}/${PLAYLIST_FILE}`);
  }
  return `${lines.join("\n")}\n`;
}

export type TranscodeOutput = {
  /** Per profile: its files (playlist and segments) as read back from disk. */
  files: { profile: string; name: string; bytes: Buffer }[];
  poster: Buffer;
};

/** Runs the HLS encode and the poster grab in `workDir`, and reads back what they wrote. */
export async function transcode(
  ffmpeg: string,
  source: string,
  workDir: string,
  probe: ProbeResult,
  renditions: Rendition[],
  signal?: AbortSignal,
): Promise<TranscodeOutput> {
  const out = path.join(workDir, "hls");
  for (const r of renditions) await mkdir(path.join(out, r.name), { recursive: true });
  // A stuck encoder is killed: generous for a slow machine, bounded for a hung one.
  const timeoutMs = 120_000 + probe.durationMs * 20;
  await run(ffmpeg, hlsArgs(source, out, renditions, probe.audio), { signal, timeoutMs });
  const posterFile = path.join(workDir, "poster.jpg");
  await run(ffmpeg, posterArgs(source, posterFile, probe), { signal, timeoutMs: 60_000 });
  const files: TranscodeOutput["files"] = [];
  for (const r of renditions) {
    const names = (await readdir(path.join(out, r.name))).sort();
    if (!names.includes(PLAYLIST_FILE) || !names.some((n) => SEGMENT_FILE.test(n))) {
      throw new Error(`ffmpeg wrote no ${r.name} rendition`);
    }
    for (const name of names) {
      if (name !== PLAYLIST_FILE && !SEGMENT_FILE.test(name)) continue;
      files.push({ profile: r.name, name, bytes: await readFile(path.join(out, r.name, name)) });
    }
  }
  return { files, poster: await readFile(posterFile) };
}
