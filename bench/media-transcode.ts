/**
 * Issue #11's transcode benchmark: wall time to turn 720p input into HLS (360p + 720p) and a
 * poster through the whole video pipeline — POST /_nova/v1/videos, the durable queue, a worker's
 * ffprobe + ffmpeg, renditions into the filesystem BlobStore, the poster as an upload, the
 * `ready` transaction with its outbox event — next to the same ffprobe and ffmpeg commands run
 * alone, in the same run on the same input. Reported per minute of input, with the ratio.
 * Database: PGlite, or a fresh PostgreSQL database when DATABASE_URL is set.
 * Usage: `tsx bench/media-transcode.ts [--seconds 20] [--rounds 2]`. Prints a markdown table;
 * does not write bench/REPORT.md.
 */
import { spawnSync } from "node:child_process";
import { mkdir, mkdtemp, readFile, rm } from "node:fs/promises";
import { loadavg, tmpdir } from "node:os";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { parseArgs } from "node:util";
import { FilesystemBlobStore } from "../companion-services/media/storage/filesystem.ts";
import type { MediaTables } from "../companion-services/media/tables.ts";
import { createVideoPipeline } from "../companion-services/media/video/index.ts";
import { probe } from "../companion-services/media/video/probe.ts";
import { planRenditions } from "../companion-services/media/video/profiles.ts";
import { hlsArgs, posterArgs } from "../companion-services/media/video/transcode.ts";
import { videoMetrics } from "../companion-services/media/video/video.metrics.ts";
import { Router } from "../companion-services/platform/http/router.ts";
import { HttpServer } from "../companion-services/platform/http/server.ts";
import { contentRepository } from "../test/media/library.ts";
import { openFresh, silentLogger } from "../test/platform/helpers.ts";
import { machineLine, writeReportSection } from "./report.ts";

const { values } = parseArgs({
  options: { seconds: { type: "string", default: "20" }, rounds: { type: "string", default: "2" } },
});
const SECONDS = Number(values.seconds);
const ROUNDS = Number(values.rounds);
const SERVER = "bench.nova";
const USER = "@bench:bench.nova";

function ffmpeg(args: string[]): void {
  const r = spawnSync("ffmpeg", args, { stdio: ["ignore", "ignore", "pipe"] });
  if (r.status !== 0) throw new Error(`ffmpeg failed: ${r.stderr.toString().slice(-500)}`);
}

async function main(): Promise<void> {
  if (spawnSync("ffmpeg", ["-version"]).status !== 0) {
    console.log("skipped: ffmpeg is not on PATH");
    return;
  }
  const dir = await mkdtemp(path.join(tmpdir(), "nova-bench-transcode-"));
  const env = await openFresh(["media"]);
  try {
    const source = path.join(dir, "input.mp4");
    console.log(`making ${SECONDS} s of 1280x720 25 fps input with audio…`);
    ffmpeg([
      ...["-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=25", "-f", "lavfi"],
      ...["-i", "sine=frequency=440:sample_rate=48000", "-t", String(SECONDS), "-c:v", "libx264"],
      ...["-preset", "veryfast", "-b:v", "4M", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest", source],
    ]);
    const input = await readFile(source);

    const { db, schema } = env.databases.get<MediaTables>("media");
    const blobs = new FilesystemBlobStore(path.join(dir, "blobs"));
    const library = contentRepository({ db, schema, blobs, serverName: SERVER, logger: silentLogger });
    const pipeline = createVideoPipeline({
      db,
      schema,
      library,
      blobs,
      logger: silentLogger,
      settings: { ffmpeg: "ffmpeg", ffprobe: "ffprobe", workers: 1, pollMs: 20 },
    });
    const router = new Router();
    pipeline.mount(router);
    const server = new HttpServer({
      router,
      logger: silentLogger,
      maxRequestBody: 1 << 20,
      authenticate: async () => ({ userId: USER, deviceId: "B", sessionId: "b", isGuest: false }),
    });
    const base = `http://127.0.0.1:${await server.listen("127.0.0.1", 0)}`;
    await pipeline.start();

    const viaPipeline = async (): Promise<number> => {
      const { mxc } = await library.storeUpload({ userId: USER, bytes: input, contentType: "video/mp4" });
      const started = performance.now();
      const res = await fetch(`${base}/_nova/v1/videos`, {
        method: "POST",
        headers: { Authorization: "Bearer b", "Content-Type": "application/json" },
        body: JSON.stringify({ mxc }),
      });
      const { video_id: id } = (await res.json()) as { video_id: string };
      // Polled gently: on two cores a tight poll of the embedded database would slow ffmpeg itself.
      while ((await pipeline.videos.getVideo(id))?.stage !== "ready") await sleep(100);
      const ms = performance.now() - started;
      const v = await pipeline.videos.getVideo(id);
      if (v?.variants.length !== 2) throw new Error(`expected 2 renditions, got ${v?.variants.length}`);
      return ms;
    };
    let n = 0;
    const alone = async (): Promise<number> => {
      const work = path.join(dir, `alone-${n++}`);
      await mkdir(work, { recursive: true });
      const started = performance.now();
      const probed = await probe("ffprobe", source);
      const renditions = planRenditions(probed.width, probed.height, probed.audio);
      for (const r of renditions) await mkdir(path.join(work, "hls", r.name), { recursive: true });
      ffmpeg(hlsArgs(source, path.join(work, "hls"), renditions, probed.audio));
      ffmpeg(posterArgs(source, path.join(work, "poster.jpg"), probed));
      const ms = performance.now() - started;
      await rm(work, { recursive: true, force: true });
      return ms;
    };

    const times = { pipeline: [] as number[], alone: [] as number[], inside: [] as number[] };
    /** The worker's own ffmpeg time for the last job, from nova_video_transcode_seconds. */
    let histogramSum = 0;
    const insideMs = async () => {
      const sum = (await videoMetrics.transcodeSeconds.get()).values.find((v) =>
        v.metricName?.endsWith("_sum"),
      );
      const ms = ((sum?.value ?? 0) - histogramSum) * 1000;
      histogramSum = sum?.value ?? 0;
      return ms;
    };
    for (let round = 1; round <= ROUNDS; round++) {
      // Alternating, so neither side always runs on a warmer machine.
      const order: ("alone" | "pipeline")[] = round % 2 === 1 ? ["alone", "pipeline"] : ["pipeline", "alone"];
      for (const which of order) {
        const ms = which === "alone" ? await alone() : await viaPipeline();
        times[which].push(ms);
        const inside = which === "pipeline" ? await insideMs() : 0;
        if (which === "pipeline") times.inside.push(inside);
        const of = which === "pipeline" ? ` (of which ffmpeg ${(inside / 1000).toFixed(2)} s)` : "";
        console.log(`round ${round}/${ROUNDS}: ${which.padEnd(8)} ${(ms / 1000).toFixed(2)} s${of}`);
      }
    }
    await pipeline.stop();
    server.close();

    const perMinute = (list: number[]) => Math.min(...list) / 1000 / (SECONDS / 60);
    const mean = (list: number[]) => list.reduce((a, b) => a + b, 0) / list.length / 1000 / (SECONDS / 60);
    const p = perMinute(times.pipeline);
    const a = perMinute(times.alone);
    const table = [
      `### Transcode: ${SECONDS} s of 720p input → HLS 360p + 720p + poster, ${ROUNDS} rounds (${env.databases.get("media").kind})`,
      "",
      "| path | best s per input minute | mean s per input minute |",
      "|---|---:|---:|",
      `| ffprobe + ffmpeg alone | ${a.toFixed(1)} | ${mean(times.alone).toFixed(1)} |`,
      `| through the pipeline (REST → queue → worker → BlobStore → ready) | ${p.toFixed(1)} | ${mean(times.pipeline).toFixed(1)} |`,
      `| … of which the worker's ffmpeg (nova_video_transcode_seconds) | ${perMinute(times.inside).toFixed(1)} | ${mean(times.inside).toFixed(1)} |`,
      `| ratio pipeline / alone | ${(p / a).toFixed(3)} | ${(mean(times.pipeline) / mean(times.alone)).toFixed(3)} |`,
    ].join("\n");
    console.log(`\n${table}\n\n_${machineLine()}_`);
    const load = loadavg()
      .map((l) => l.toFixed(1))
      .join(" / ");
    writeReportSection(
      "media-transcode",
      `${table.replace(/^### /, "## Media: ").replace("\n", " (bench/media-transcode.ts)\n")}\n\nLoad average at the end: ${load} (1/5/15 min) on this 2-core machine; ffmpeg alone and the pipeline alternate rounds so neither always runs on a warmer machine.`,
    );
  } finally {
    await env.close();
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
