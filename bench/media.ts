/**
 * Issue #11's media benchmark, against the server as `npm start` runs it (its own process, the
 * embedded database or DATABASE_URL, the filesystem store), each number beside a ceiling measured
 * in the same run on the same machine:
 *
 * - upload throughput (MB/s of `POST /_matrix/media/v3/upload`, 4 in flight) against writing and
 *   fsyncing the same bytes to the same disk directly;
 * - download latency at a fixed 100 requests/s (p50/p99 of authenticated downloads) against a bare
 *   uWebSockets.js server reading the same file from disk per request;
 * - thumbnails generated per second (each request a new size, so each one renders) against sharp
 *   alone resizing the same image to the same sizes in this process.
 *
 * Usage: `tsx bench/media.ts [--uploads 40] [--size-mib 8] [--seconds 10]`. Writes the `media`
 * section of bench/REPORT.md. The transcode benchmark is bench/media-transcode.ts.
 */

import uWS from "uWebSockets.js";
import { randomBytes } from "node:crypto";
import { mkdtemp, open, readFile, rm, writeFile } from "node:fs/promises";
import { loadavg, tmpdir } from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import sharp from "sharp";
import { freshDatabase, startServerProcess } from "../test/helpers/process.ts";
import { percentile, writeReportSection } from "./report.ts";

const { values } = parseArgs({
  options: {
    uploads: { type: "string", default: "40" },
    "size-mib": { type: "string", default: "8" },
    seconds: { type: "string", default: "10" },
  },
});
const UPLOADS = Number(values.uploads);
const SIZE = Number(values["size-mib"]) * 1024 * 1024;
const SECONDS = Number(values.seconds);
const IN_FLIGHT = 4;
const RATE = 100;

async function pool<T>(n: number, inFlight: number, fn: (i: number) => Promise<T>): Promise<T[]> {
  const out: T[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      while (next < n) {
        const i = next++;
        out[i] = await fn(i);
      }
    }),
  );
  return out;
}

/** Requests at a fixed rate for `seconds`, whatever the answers take; latencies in ms, sorted. */
async function fixedRate(url: string, headers: Record<string, string>, seconds: number): Promise<number[]> {
  const latencies: number[] = [];
  const pending: Promise<void>[] = [];
  const start = performance.now();
  for (let i = 0; i < RATE * seconds; i++) {
    const due = start + (i * 1000) / RATE;
    const wait = due - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    pending.push(
      (async () => {
        const t = performance.now();
        const r = await fetch(url, { headers });
        await r.arrayBuffer();
        if (r.status !== 200) throw new Error(`download answered ${r.status}`);
        latencies.push(performance.now() - t);
      })(),
    );
  }
  await Promise.all(pending);
  return latencies.sort((a, b) => a - b);
}

async function main(): Promise<void> {
  const db = await freshDatabase();
  const server = await startServerProcess({
    ...(db ? { DATABASE_URL: db.url } : {}),
    NOVA_RATELIMIT_MEDIA_UPLOAD: "100000:100000",
    NOVA_RATELIMIT_MEDIA_UPLOAD_IP: "100000:100000",
    NOVA_MEDIA_MAX_UPLOAD: String(Math.max(SIZE, 50 * 1024 * 1024)),
  });
  const scratch = await mkdtemp(path.join(tmpdir(), "nova-bench-media-"));
  try {
    const reg = await fetch(`${server.baseUrl}/_matrix/client/v3/register`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({
        username: "bench",
        password: "bench password",
        auth: { type: "m.login.dummy" },
      }),
    });
    const token = ((await reg.json()) as { access_token: string }).access_token;
    const auth = { Authorization: `Bearer ${token}` };
    // Distinct random files: nothing is deduplicated, every upload is written.
    const files = Array.from({ length: UPLOADS }, () => randomBytes(SIZE));

    // Ceiling: the same bytes written and fsynced straight to the same disk.
    console.log(`raw disk: ${UPLOADS} × ${SIZE / 2 ** 20} MiB, ${IN_FLIGHT} in flight`);
    let t = performance.now();
    await pool(UPLOADS, IN_FLIGHT, async (i) => {
      const fh = await open(path.join(scratch, `f${i}`), "w");
      await fh.writeFile(files[i]!);
      await fh.sync();
      await fh.close();
    });
    const diskMBs = (UPLOADS * SIZE) / 1e6 / ((performance.now() - t) / 1000);
    console.log(`  ${diskMBs.toFixed(0)} MB/s`);

    // Second ceiling: a bare uWS server receiving the same uploads over HTTP and writing them the
    // same way (temporary file, fsync): what the transport and the disk cost together.
    const sink = uWS.App().post("/*", (res) => {
      let aborted = false;
      res.onAborted(() => {
        aborted = true;
      });
      const parts: Buffer[] = [];
      res.onData((ab, isLast) => {
        parts.push(Buffer.from(new Uint8Array(ab).slice()));
        if (!isLast) return;
        void (async () => {
          const fh = await open(path.join(scratch, `u${randomBytes(6).toString("hex")}`), "w");
          await fh.writeFile(Buffer.concat(parts));
          await fh.sync();
          await fh.close();
          if (!aborted) res.cork(() => res.end("{}"));
        })();
      });
    });
    let sinkSocket: uWS.us_listen_socket | null = null;
    const sinkPort = await new Promise<number>((resolve) =>
      sink.listen("127.0.0.1", 0, (sock) => {
        sinkSocket = sock;
        resolve(uWS.us_socket_local_port(sock));
      }),
    );
    t = performance.now();
    await pool(UPLOADS, IN_FLIGHT, async (i) => {
      const r = await fetch(`http://127.0.0.1:${sinkPort}/up`, {
        method: "POST",
        body: new Uint8Array(files[i]!),
      });
      await r.arrayBuffer();
    });
    const bareMBs = (UPLOADS * SIZE) / 1e6 / ((performance.now() - t) / 1000);
    if (sinkSocket) uWS.us_listen_socket_close(sinkSocket);
    console.log(`  bare uWS + write + fsync: ${bareMBs.toFixed(0)} MB/s`);

    console.log("nova uploads");
    t = performance.now();
    const mxcs = await pool(UPLOADS, IN_FLIGHT, async (i) => {
      const r = await fetch(`${server.baseUrl}/_matrix/media/v3/upload`, {
        method: "POST",
        headers: { ...auth, "Content-Type": "application/octet-stream" },
        body: new Uint8Array(files[i]!),
      });
      if (r.status !== 200) throw new Error(`upload answered ${r.status}: ${await r.text()}`);
      return ((await r.json()) as { content_uri: string }).content_uri;
    });
    const uploadMBs = (UPLOADS * SIZE) / 1e6 / ((performance.now() - t) / 1000);
    console.log(`  ${uploadMBs.toFixed(0)} MB/s`);

    // Downloads of a 256 KiB file at 100 requests/s: Nova, then a bare uWS server reading it from disk.
    const small = randomBytes(256 * 1024);
    const up = await fetch(`${server.baseUrl}/_matrix/media/v3/upload`, {
      method: "POST",
      headers: { ...auth, "Content-Type": "image/jpeg" },
      body: new Uint8Array(small),
    });
    const smallMxc = ((await up.json()) as { content_uri: string }).content_uri;
    const smallPath = path.join(scratch, "small");
    await writeFile(smallPath, small);
    console.log(`downloads at ${RATE}/s for ${SECONDS} s`);
    const nova = await fixedRate(
      `${server.baseUrl}/_matrix/client/v1/media/download/${smallMxc.slice(6)}`,
      auth,
      SECONDS,
    );
    const app = uWS.App().get("/*", (res) => {
      let aborted = false;
      res.onAborted(() => {
        aborted = true;
      });
      void readFile(smallPath).then((b) => {
        if (!aborted) res.cork(() => res.writeHeader("Content-Type", "image/jpeg").end(b));
      });
    });
    let listenSocket: uWS.us_listen_socket | null = null;
    const port = await new Promise<number>((resolve) =>
      app.listen("127.0.0.1", 0, (s) => {
        listenSocket = s;
        resolve(uWS.us_socket_local_port(s));
      }),
    );
    const bare = await fixedRate(`http://127.0.0.1:${port}/small`, {}, SECONDS);
    if (listenSocket) uWS.us_listen_socket_close(listenSocket);
    console.log(
      `  nova p99 ${percentile(nova, 99).toFixed(2)} ms, bare p99 ${percentile(bare, 99).toFixed(2)} ms`,
    );

    // Thumbnails: each request a size not made before, so each one renders (sharp, libvips).
    const image = await sharp({
      create: { width: 1600, height: 1200, channels: 3, background: { r: 40, g: 120, b: 200 } },
    })
      .jpeg()
      .toBuffer();
    const upImg = await fetch(`${server.baseUrl}/_matrix/media/v3/upload`, {
      method: "POST",
      headers: { ...auth, "Content-Type": "image/jpeg" },
      body: new Uint8Array(image),
    });
    const imgMxc = ((await upImg.json()) as { content_uri: string }).content_uri;
    // Crops of a 10:7 ratio: no thumbnail made at upload can answer them, so each one renders.
    const sizes = Array.from({ length: 60 }, (_, i) => 100 + i * 7);
    const heightOf = (w: number) => Math.round(w * 0.7);
    console.log(`thumbnails: ${sizes.length} new crops of a 1600×1200 JPEG, 2 in flight`);
    t = performance.now();
    await pool(sizes.length, 2, async (i) => {
      const s = sizes[i]!;
      const r = await fetch(
        `${server.baseUrl}/_matrix/client/v1/media/thumbnail/${imgMxc.slice(6)}?width=${s}&height=${heightOf(s)}&method=crop`,
        { headers: auth },
      );
      await r.arrayBuffer();
      if (r.status !== 200) throw new Error(`thumbnail answered ${r.status}`);
    });
    const novaThumbs = sizes.length / ((performance.now() - t) / 1000);
    t = performance.now();
    await pool(sizes.length, 2, async (i) => {
      const s = sizes[i]!;
      await sharp(image)
        .rotate()
        .resize(s, s, { fit: "inside", withoutEnlargement: true })
        .jpeg({ quality: 80 })
        .toBuffer();
    });
    const sharpThumbs = sizes.length / ((performance.now() - t) / 1000);
    console.log(`  nova ${novaThumbs.toFixed(1)}/s, sharp alone ${sharpThumbs.toFixed(1)}/s`);

    const load = loadavg()
      .map((l) => l.toFixed(1))
      .join(" / ");
    writeReportSection(
      "media",
      [
        "## Media (bench/media.ts)",
        "",
        `Server as \`npm start\` runs it (own process), ${db ? "PostgreSQL" : "embedded PGlite"}, filesystem store on the same disk as the ceiling's writes. ${mxcs.length} uploads of ${SIZE / 2 ** 20} MiB distinct random files, ${IN_FLIGHT} in flight.`,
        "",
        "| measurement | Nova | ceiling (same run) | Nova / ceiling |",
        "|---|---|---|---|",
        `| upload throughput | **${uploadMBs.toFixed(0)} MB/s** | write + fsync of the same bytes: ${diskMBs.toFixed(0)} MB/s; the same uploads over HTTP to a bare uWS server that writes and fsyncs them: ${bareMBs.toFixed(0)} MB/s | ${((uploadMBs / diskMBs) * 100).toFixed(0)} % of the disk, ${((uploadMBs / bareMBs) * 100).toFixed(0)} % of bare HTTP |`,
        `| download of 256 KiB at ${RATE} req/s for ${SECONDS} s, p50 / p99 | **${percentile(nova, 50).toFixed(2)} / ${percentile(nova, 99).toFixed(2)} ms** | bare uWS reading the file per request: ${percentile(bare, 50).toFixed(2)} / ${percentile(bare, 99).toFixed(2)} ms | p99 ${(percentile(nova, 99) / percentile(bare, 99)).toFixed(1)}× |`,
        `| thumbnails rendered per second (new 10:7 crops of a 1600×1200 JPEG, 2 in flight) | **${novaThumbs.toFixed(1)}/s** | sharp alone, same sizes, in-process: ${sharpThumbs.toFixed(1)}/s | ${((novaThumbs / sharpThumbs) * 100).toFixed(0)} % |`,
        "",
        `An upload is hashed (SHA-256), sniffed, written to a temporary file, fsynced and renamed, and its row and \`media.uploaded\` event committed in one transaction; the ceiling only writes and fsyncs. Load average at the end: ${load} (1/5/15 min) on this 2-core machine, which the server, the database and this load generator share.`,
      ].join("\n"),
    );
    console.log("wrote the media section of bench/REPORT.md");
  } finally {
    await server.stop();
    await db?.drop();
    await rm(scratch, { recursive: true, force: true });
  }
}

await main();
