import { z } from "zod";
import { ProcessError, run } from "./spawn.ts";

/** The job cannot succeed whatever the retries (not a video, source gone): it fails at once. */
export class PermanentJobError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "PermanentJobError";
  }
}

export type ProbeResult = {
  /** As displayed (rotation applied). */
  width: number;
  height: number;
  durationMs: number;
  codec: string;
  audio: boolean;
};

const stream = z.object({
  codec_type: z.string().optional(),
  codec_name: z.string().optional(),
  width: z.number().optional(),
  height: z.number().optional(),
  tags: z.record(z.string(), z.string()).optional(),
  side_data_list: z.array(z.object({ rotation: z.number().optional() }).passthrough()).optional(),
  disposition: z.object({ attached_pic: z.number().optional() }).passthrough().optional(),
});
const probeOutput = z.object({
  streams: z.array(stream.passthrough()).default([]),
  format: z.object({ format_name: z.string().optional(), duration: z.string().optional() }).passthrough(),
});

/** Still-image demuxers: ffprobe reads a JPEG as a one-frame "video", which is not one. */
const IMAGE_FORMATS = /(^|,)(image2|[a-z0-9]+_pipe|gif|apng|webp)(,|$)/;

/**
 * ffprobe's view of `file`. Anything that is not a playable video (unreadable, no video stream, a
 * still image, no duration) is a PermanentJobError whose message says why; a missing or crashing
 * ffprobe is an ordinary (retryable) error.
 */
export async function probe(ffprobe: string, file: string, signal?: AbortSignal): Promise<ProbeResult> {
  let stdout: string;
  try {
    ({ stdout } = await run(
      ffprobe,
      ["-v", "error", "-print_format", "json", "-show_format", "-show_streams", file],
      { signal, timeoutMs: 60_000 },
    ));
  } catch (err) {
    // ffprobe ran and refused the input: the file is the problem, not the machine.
    if (err instanceof ProcessError && err.code !== null && err.code !== 0 && !signal?.aborted) {
      throw new PermanentJobError(`not a video: ffprobe could not read it (${lastStderr(err.stderr)})`);
    }
    throw err;
  }
  const parsed = probeOutput.safeParse(JSON.parse(stdout || "{}"));
  if (!parsed.success) throw new PermanentJobError("not a video: ffprobe found no format");
  const { streams, format } = parsed.data;
  const video = streams.find((s) => s.codec_type === "video" && !s.disposition?.attached_pic);
  if (!video?.width || !video.height) {
    throw new PermanentJobError("not a video: no video stream");
  }
  if (IMAGE_FORMATS.test(format.format_name ?? "")) {
    throw new PermanentJobError(`not a video: a still image (${format.format_name})`);
  }
  const seconds = Number(format.duration);
  if (!Number.isFinite(seconds) || seconds <= 0) throw new PermanentJobError("not a video: no duration");
  const rotation = Math.abs(
    video.side_data_list?.find((d) => d.rotation !== undefined)?.rotation ?? Number(video.tags?.rotate ?? 0),
  );
  const sideways = rotation % 180 === 90;
  return {
    width: sideways ? video.height : video.width,
    height: sideways ? video.width : video.height,
    durationMs: Math.round(seconds * 1000),
    codec: video.codec_name ?? "unknown",
    audio: streams.some((s) => s.codec_type === "audio"),
  };
}

function lastStderr(text: string): string {
  const line = text
    .split("\n")
    .map((l) => l.trim())
    .filter(Boolean)
    .pop();
  return (line ?? "no output").replace(/^.*?: /, "").slice(0, 200);
}
