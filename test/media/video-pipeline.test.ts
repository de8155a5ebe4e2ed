import { spawnSync } from "node:child_process";
import { chmod, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import type { Kysely } from "kysely";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { MediaService } from "../../companion-services/media/service.ts";
import { FilesystemBlobStore } from "../../companion-services/media/storage/filesystem.ts";
import type { MediaTables } from "../../companion-services/media/tables.ts";
import {
  createVideoPipeline,
  type VideoPipeline,
  type VideoPipelineSettings,
} from "../../companion-services/media/video/index.ts";
import { QueueRepository } from "../../companion-services/media/video/queue.repository.ts";
import { unknownToken } from "../../companion-services/platform/errors.ts";
import { Router } from "../../companion-services/platform/http/router.ts";
import { HttpServer } from "../../companion-services/platform/http/server.ts";
import { openFresh, silentLogger, waitFor } from "../platform/helpers.ts";
import { contentRepository } from "./library.ts";

const tools = ["ffmpeg", "ffprobe"].every((b) => spawnSync(b, ["-version"]).status === 0);
// CI installs ffmpeg (.ci/ffmpeg.sh): there a missing binary is a failure, not a skip.
if (!tools && process.env.CI) throw new Error("video-pipeline.test: ffmpeg/ffprobe missing in CI");
if (!tools) console.log("video-pipeline.test: skipped, needs ffmpeg and ffprobe on PATH (.ci/ffmpeg.sh)");
const SERVER = "test.nova";
const ALICE = "@alice:test.nova";
const BOB = "@bob:test.nova";

describe.skipIf(!tools)("video pipeline (needs ffmpeg and ffprobe on PATH)", () => {
  let env: Awaited<ReturnType<typeof openFresh>>;
  let db: Kysely<MediaTables>;
  let schema: string;
  let dir: string;
  let blobs: FilesystemBlobStore;
  let library: MediaService;
  let api: VideoPipeline;
  let server: HttpServer;
  let base: string;
  let clip: Buffer;

  const pipeline = (settings: Partial<VideoPipelineSettings> = {}) =>
    createVideoPipeline({
      db,
      schema,
      library,
      blobs,
      logger: silentLogger,
      settings: {
        ffmpeg: "ffmpeg",
        ffprobe: "ffprobe",
        workers: 1,
        pollMs: 50,
        retryBaseMs: 50,
        ...settings,
      },
    });

  /** Runs `fn` with one worker started, and stops it afterwards. */
  async function withWorker<T>(settings: Partial<VideoPipelineSettings>, fn: () => Promise<T>): Promise<T> {
    const p = pipeline(settings);
    await p.start();
    try {
      return await fn();
    } finally {
      await p.stop();
    }
  }

  const call = async (method: string, p: string, token: string | null, body?: unknown) => {
    const r = await fetch(`${base}${p}`, {
      method,
      headers: {
        ...(token ? { Authorization: `Bearer ${token}` } : {}),
        ...(body !== undefined ? { "Content-Type": "application/json" } : {}),
      },
      body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
    });
    const bytes = Buffer.from(await r.arrayBuffer());
    const type = r.headers.get("content-type") ?? "";
    const json = type.startsWith("application/json")
      ? (JSON.parse(bytes.toString("utf8")) as Record<string, unknown>)
      : {};
    return { status: r.status, type, bytes, body: json };
  };

  const upload = async (user: string, bytes: Buffer, contentType = "video/mp4") =>
    (await library.storeUpload({ userId: user, bytes, contentType })).mxc;

  const settled = async (id: string, timeoutMs = 60_000) => {
    await waitFor(
      async () => ["ready", "failed"].includes((await api.videos.getVideo(id))?.stage ?? ""),
      timeoutMs,
      `video ${id} to settle`,
    );
    return (await api.videos.getVideo(id))!;
  };

  const jobOf = async (videoId: string) =>
    db
      .selectFrom("reel_transcode_jobs")
      .selectAll()
      .where("video_id", "=", videoId)
      .executeTakeFirstOrThrow();

  const events = async (type: string) =>
    db.selectFrom("outbox_events").selectAll().where("event_type", "=", type).execute();

  beforeAll(async () => {
    env = await openFresh(["media"]);
    const handle = env.databases.get<MediaTables>("media");
    db = handle.db;
    schema = handle.schema;
    dir = await mkdtemp(path.join(tmpdir(), "nova-video-test-"));
    blobs = new FilesystemBlobStore(path.join(dir, "blobs"));
    library = contentRepository({ db, schema, blobs, serverName: SERVER, logger: silentLogger });
    const file = path.join(dir, "clip.mp4");
    const made = spawnSync("ffmpeg", [
      ...["-v", "error", "-f", "lavfi", "-i", "testsrc=size=1280x720:rate=25", "-f", "lavfi"],
      ...["-i", "sine=frequency=440:sample_rate=48000", "-t", "2", "-c:v", "libx264", "-preset", "ultrafast"],
      ...["-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest", file],
    ]);
    expect(made.status, made.stderr.toString()).toBe(0);
    clip = await readFile(file);

    api = pipeline({ workers: 0 });
    const router = new Router();
    api.mount(router);
    server = new HttpServer({
      router,
      logger: silentLogger,
      maxRequestBody: 1024 * 1024,
      authenticate: async (token) => {
        const userId = { alice: ALICE, bob: BOB }[token];
        if (!userId) throw unknownToken();
        return { userId, deviceId: "D", sessionId: "s", isGuest: false };
      },
    });
    base = `http://127.0.0.1:${await server.listen("127.0.0.1", 0)}`;
  });

  afterAll(async () => {
    server?.close();
    await env?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("turns a 720p clip into 360p and 720p HLS with a poster, served over REST", async () => {
    const mxc = await upload(ALICE, clip);
    const created = await call("POST", "/_nova/v1/videos", "alice", { mxc, title: "test pattern" });
    expect(created.status).toBe(202);
    expect(created.body.stage).toBe("queued");
    const id = created.body.video_id as string;

    const video = await withWorker({}, () => settled(id));
    expect(video).toMatchObject({
      stage: "ready",
      error: null,
      ownerId: ALICE,
      title: "test pattern",
      codec: "h264",
    });
    expect(video.durationMs).toBeGreaterThan(1_500);
    expect(video.variants.map((v) => [v.profile, v.width, v.height])).toEqual([
      ["360p", 640, 360],
      ["720p", 1280, 720],
    ]);
    const poster = await library.info(video.posterMxc!.split("/").pop()!);
    expect(poster).toMatchObject({ userId: ALICE, contentType: "image/jpeg" });
    expect((await library.bytes(poster!.mediaId))!.subarray(0, 2)).toEqual(Buffer.from([0xff, 0xd8]));
    expect((await jobOf(id)).status).toBe("done");
    const ready = (await events("video.ready")).find((e) => e.aggregate_id === id);
    expect(ready?.payload).toMatchObject({ video_id: id, owner_id: ALICE, mxc, profiles: ["360p", "720p"] });

    const got = await call("GET", `/_nova/v1/videos/${id}`, "bob");
    expect(got.status).toBe(200);
    expect(got.body).toMatchObject({
      id,
      owner_id: ALICE,
      stage: "ready",
      poster_mxc: video.posterMxc,
      views: 0,
    });

    const master = await call("GET", `/_nova/v1/videos/${id}/hls/master.m3u8`, "bob");
    expect([master.status, master.type]).toEqual([200, "application/vnd.apple.mpegurl"]);
    const text = master.bytes.toString("utf8");
    expect(text).toContain("RESOLUTION=640x360");
    expect(text).toContain("720p/index.m3u8");
    for (const v of video.variants) {
      const playlist = await call("GET", v.playlist, "bob");
      expect(playlist.status).toBe(200);
      const segment = playlist.bytes
        .toString("utf8")
        .split("\n")
        .find((l) => l.endsWith(".ts"))!;
      const seg = await call("GET", `/_nova/v1/videos/${id}/hls/${v.profile}/${segment}`, "bob");
      expect([seg.status, seg.type, seg.bytes[0]]).toEqual([200, "video/mp2t", 0x47]);
    }
    expect(await blobs.list(`video/${id}/`)).toContain(`video/${id}/720p/index.m3u8`);

    // The owner deletes it: rows and renditions go.
    expect((await call("DELETE", `/_nova/v1/videos/${id}`, "bob")).status).toBe(403);
    expect((await call("DELETE", `/_nova/v1/videos/${id}`, "alice")).status).toBe(200);
    expect((await call("GET", `/_nova/v1/videos/${id}`, "alice")).status).toBe(404);
    expect(await blobs.list(`video/${id}/`)).toEqual([]);
  });

  it("fails a non-video with a clear error, and the next job still processes", async () => {
    const text = await upload(
      ALICE,
      Buffer.from("this is not a video, just some text\n".repeat(20)),
      "text/plain",
    );
    const png = await upload(ALICE, await ffmpegStill(dir), "image/jpeg");
    const bad = (await call("POST", "/_nova/v1/videos", "alice", { mxc: text })).body.video_id as string;
    const still = (await call("POST", "/_nova/v1/videos", "alice", { mxc: png })).body.video_id as string;
    const good = (await call("POST", "/_nova/v1/videos", "alice", { mxc: await upload(ALICE, clip) })).body
      .video_id as string;

    const [a, b, c] = await withWorker({}, () => Promise.all([settled(bad), settled(still), settled(good)]));
    expect(a.stage).toBe("failed");
    expect(a.error).toMatch(/^not a video: ffprobe could not read it/);
    expect(b.stage).toBe("failed");
    expect(b.error).toMatch(/^not a video: a still image/);
    expect(c.stage).toBe("ready");
    expect(await jobOf(bad)).toMatchObject({ status: "failed", attempts: 1, locked_by: null });
    const failed = (await events("video.failed")).find((e) => e.aggregate_id === bad);
    expect(failed?.payload).toMatchObject({ video_id: bad, owner_id: ALICE, error: a.error });
  });

  it("gives a crashed worker's job (lease lapsed) to another worker", async () => {
    const id = (await call("POST", "/_nova/v1/videos", "alice", { mxc: await upload(ALICE, clip) })).body
      .video_id as string;
    // A worker claimed it and died: running, its lease in the past.
    await db
      .updateTable("reel_transcode_jobs")
      .set({ status: "running", attempts: 1, locked_by: "crashed-worker", locked_until: Date.now() - 1_000 })
      .where("video_id", "=", id)
      .execute();
    const video = await withWorker({}, () => settled(id));
    expect(video.stage).toBe("ready");
    expect(await jobOf(id)).toMatchObject({
      status: "done",
      attempts: 2,
      locked_by: null,
      locked_until: null,
    });
  });

  it("marks a job dead when its lease lapsed on its last attempt", async () => {
    const id = (await call("POST", "/_nova/v1/videos", "alice", { mxc: await upload(ALICE, clip) })).body
      .video_id as string;
    await db
      .updateTable("reel_transcode_jobs")
      .set({ status: "running", attempts: 3, locked_by: "hung-worker", locked_until: Date.now() - 1 })
      .where("video_id", "=", id)
      .execute();
    const video = await withWorker({}, () => settled(id));
    expect(video.stage).toBe("failed");
    expect(video.error).toBe("gave up after 3 attempts: the worker was lost each time");
    expect(await jobOf(id)).toMatchObject({ status: "dead", attempts: 4 });
  });

  it("drops the output of a video deleted while it was encoding", async () => {
    const id = (await call("POST", "/_nova/v1/videos", "alice", { mxc: await upload(ALICE, clip) })).body
      .video_id as string;
    // A short lease: the heartbeat finds the job gone (deleted with its video) and stops the encode;
    // had the encode finished first, the commit finds the video gone. Either way nothing is left.
    await withWorker({ visibilityTimeoutMs: 300 }, async () => {
      await waitFor(
        async () => (await api.videos.getVideo(id))?.stage === "transcoding",
        20_000,
        "transcoding",
      );
      expect((await call("DELETE", `/_nova/v1/videos/${id}`, "alice")).status).toBe(200);
    });
    expect(await blobs.list(`video/${id}/`)).toEqual([]);
    expect((await events("video.ready")).some((e) => e.aggregate_id === id)).toBe(false);
  });

  it("never hands one job to two claimers (FOR UPDATE SKIP LOCKED)", async () => {
    const ids = await Promise.all(
      [0, 1].map(
        async () =>
          (await call("POST", "/_nova/v1/videos", "alice", { mxc: await upload(ALICE, clip) })).body
            .video_id as string,
      ),
    );
    const queue = new QueueRepository(db);
    const now = Date.now();
    const claimed = await Promise.all([queue.claim("w1", now, 60_000), queue.claim("w2", now, 60_000)]);
    expect(claimed.every(Boolean)).toBe(true);
    expect(new Set(claimed.map((j) => j!.id)).size).toBe(2);
    expect(await queue.claim("w3", now, 60_000)).toBeUndefined();
    for (const id of ids) await call("DELETE", `/_nova/v1/videos/${id}`, "alice");
  });

  it("retries a failing transcode with growing backoff, then marks it dead", async () => {
    const id = (await call("POST", "/_nova/v1/videos", "alice", { mxc: await upload(ALICE, clip) })).body
      .video_id as string;
    const seen = new Map<number, number>();
    const video = await withWorker({ ffmpeg: "/nonexistent/ffmpeg", retryBaseMs: 300 }, async () => {
      await waitFor(
        async () => {
          const job = await jobOf(id);
          if (job.status === "queued" && job.attempts > 0)
            seen.set(job.attempts, job.run_after - job.updated_at);
          return job.status === "dead";
        },
        30_000,
        "the job to die",
      );
      return settled(id);
    });
    // Attempt n waits between half and all of 300·2^(n-1) ms.
    expect(seen.get(1)).toBeGreaterThanOrEqual(150);
    expect(seen.get(1)).toBeLessThanOrEqual(300);
    expect(seen.get(2)).toBeGreaterThanOrEqual(300);
    expect(seen.get(2)).toBeLessThanOrEqual(600);
    expect(await jobOf(id)).toMatchObject({ status: "dead", attempts: 3 });
    expect(video.stage).toBe("failed");
    expect(video.error).toBe(
      "gave up after 3 attempts: ffmpeg failed to start: /nonexistent/ffmpeg not found",
    );
  });

  it("stop() kills a running encode within its grace and hands the job back", async () => {
    const slow = path.join(dir, "slow-ffmpeg.sh");
    await writeFile(slow, "#!/bin/sh\nexec sleep 30\n");
    await chmod(slow, 0o755);
    const id = (await call("POST", "/_nova/v1/videos", "alice", { mxc: await upload(ALICE, clip) })).body
      .video_id as string;
    const p = pipeline({ ffmpeg: slow, stopGraceMs: 100 });
    await p.start();
    await waitFor(
      async () => (await api.videos.getVideo(id))?.stage === "transcoding",
      20_000,
      "transcoding",
    );
    const started = Date.now();
    await p.stop();
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(await jobOf(id)).toMatchObject({ status: "queued", attempts: 0, locked_by: null });
    await call("DELETE", `/_nova/v1/videos/${id}`, "alice");
  });

  it("counts a view once per view_id", async () => {
    const id = (await call("POST", "/_nova/v1/videos", "alice", { mxc: await upload(ALICE, clip) })).body
      .video_id as string;
    const view = (viewId: string, watchMs: number) =>
      call("POST", `/_nova/v1/videos/${id}/views`, "bob", { view_id: viewId, watch_ms: watchMs });
    expect((await view("v-1", 1_500)).body).toEqual({ counted: true, views: 1, watch_ms: 1_500 });
    expect((await view("v-1", 1_500)).body).toEqual({ counted: false, views: 1, watch_ms: 1_500 });
    expect((await view("v-2", 500)).body).toEqual({ counted: true, views: 2, watch_ms: 2_000 });
    expect(await api.videos.getVideo(id)).toMatchObject({ views: 2, watchMs: 2_000 });
    expect((await view("v-3", -1)).status).toBe(400);
    await call("DELETE", `/_nova/v1/videos/${id}`, "alice");
  });

  it("answers bad requests with Matrix errors, never a 500", async () => {
    const mine = await upload(ALICE, clip);
    const unknown = "00000000-0000-4000-8000-000000000000";
    const expectError = async (
      r: Promise<{ status: number; body: Record<string, unknown> }>,
      status: number,
      errcode: string,
    ) => {
      const out = await r;
      expect([out.status, out.body.errcode]).toEqual([status, errcode]);
    };
    await expectError(call("GET", `/_nova/v1/videos/${unknown}`, null), 401, "M_MISSING_TOKEN");
    await expectError(call("GET", `/_nova/v1/videos/${unknown}`, "mallory"), 401, "M_UNKNOWN_TOKEN");
    await expectError(call("GET", `/_nova/v1/videos/${unknown}`, "alice"), 404, "M_NOT_FOUND");
    await expectError(call("GET", "/_nova/v1/videos/not-a-uuid", "alice"), 404, "M_NOT_FOUND");
    await expectError(call("GET", `/_nova/v1/reels/${unknown}`, "alice"), 404, "M_NOT_FOUND");
    await expectError(call("POST", "/_nova/v1/videos", "bob", { mxc: mine }), 403, "M_FORBIDDEN");
    await expectError(call("POST", "/_nova/v1/videos", "alice", "{not json"), 400, "M_NOT_JSON");
    await expectError(call("POST", "/_nova/v1/videos", "alice", { mxc: 5 }), 400, "M_BAD_JSON");
    await expectError(
      call("POST", "/_nova/v1/videos", "alice", { mxc: "https://x/y" }),
      400,
      "M_INVALID_PARAM",
    );
    await expectError(
      call("POST", "/_nova/v1/videos", "alice", { mxc: "mxc://elsewhere.org/abc" }),
      404,
      "M_NOT_FOUND",
    );
    await expectError(
      call("POST", "/_nova/v1/videos", "alice", { mxc: `mxc://${SERVER}/nosuchmedia` }),
      404,
      "M_NOT_FOUND",
    );
    await expectError(
      call("POST", `/_nova/v1/videos/${unknown}/views`, "alice", { view_id: "x", watch_ms: 1 }),
      404,
      "M_NOT_FOUND",
    );
    await expectError(call("POST", "/_nova/v1/reels", "alice", { caption: "neither" }), 400, "M_BAD_JSON");
    await expectError(call("POST", "/_nova/v1/reels", "alice", { video_id: unknown }), 404, "M_NOT_FOUND");
    await expectError(
      call("GET", "/_nova/v1/users/@alice:test.nova/reels?limit=0", "alice"),
      400,
      "M_INVALID_PARAM",
    );
    await expectError(
      call("GET", "/_nova/v1/users/@alice:test.nova/reels?from=bogus", "alice"),
      400,
      "M_INVALID_PARAM",
    );
    await expectError(call("GET", "/_nova/v1/users/alice/reels", "alice"), 400, "M_INVALID_PARAM");

    const id = (await call("POST", "/_nova/v1/videos", "alice", { mxc: mine })).body.video_id as string;
    await expectError(
      call("GET", `/_nova/v1/videos/${id}/hls/360p/..%2f..%2fsecret`, "alice"),
      400,
      "M_INVALID_PARAM",
    );
    await expectError(call("GET", `/_nova/v1/videos/${id}/hls/4k/index.m3u8`, "alice"), 404, "M_NOT_FOUND");
    await expectError(call("GET", `/_nova/v1/videos/${id}/hls/index.m3u8`, "alice"), 404, "M_NOT_FOUND");
    // Queued, not transcoded yet: the playlist does not exist.
    await expectError(call("GET", `/_nova/v1/videos/${id}/hls/master.m3u8`, "alice"), 404, "M_NOT_FOUND");
    await expectError(call("POST", "/_nova/v1/reels", "bob", { video_id: id }), 403, "M_FORBIDDEN");
    await call("DELETE", `/_nova/v1/videos/${id}`, "alice");
  });

  it("creates, pages and deletes reels", async () => {
    const first = await call("POST", "/_nova/v1/reels", "bob", {
      mxc: await upload(BOB, clip),
      caption: "one",
    });
    expect(first.status).toBe(201);
    expect(first.body).toMatchObject({
      owner_id: BOB,
      caption: "one",
      video: { stage: "queued", owner_id: BOB },
    });
    const videoId = first.body.video_id as string;
    const second = await call("POST", "/_nova/v1/reels", "bob", { video_id: videoId, caption: "two" });
    const third = await call("POST", "/_nova/v1/reels", "bob", { video_id: videoId });
    expect([second.status, third.status]).toEqual([201, 201]);

    const page1 = await call("GET", `/_nova/v1/users/${encodeURIComponent(BOB)}/reels?limit=2`, "alice");
    const chunk1 = page1.body.chunk as { id: string }[];
    expect(chunk1.map((r) => r.id)).toEqual([third.body.id, second.body.id]);
    const from = encodeURIComponent(page1.body.next_batch as string);
    const page2 = await call(
      "GET",
      `/_nova/v1/users/${encodeURIComponent(BOB)}/reels?limit=2&from=${from}`,
      "alice",
    );
    expect((page2.body.chunk as { id: string }[]).map((r) => r.id)).toEqual([first.body.id]);
    expect(page2.body.next_batch).toBeUndefined();

    const reelId = first.body.id as string;
    expect((await call("GET", `/_nova/v1/reels/${reelId}`, "alice")).body).toMatchObject({
      id: reelId,
      video_id: videoId,
    });
    expect((await call("DELETE", `/_nova/v1/reels/${reelId}`, "alice")).status).toBe(403);
    expect((await call("DELETE", `/_nova/v1/reels/${reelId}`, "bob")).status).toBe(200);
    expect((await call("GET", `/_nova/v1/reels/${reelId}`, "bob")).status).toBe(404);
    expect((await events("reel.created")).filter((e) => e.aggregate_id === videoId)).toHaveLength(3);
    expect((await events("reel.deleted")).map((e) => (e.payload as { reel_id: string }).reel_id)).toContain(
      reelId,
    );

    // The reel made from an upload queued its video: a worker makes it ready.
    expect((await withWorker({}, () => settled(videoId))).stage).toBe("ready");
    expect((await api.videos.getReel(second.body.id as string))?.video.stage).toBe("ready");
    await call("DELETE", `/_nova/v1/videos/${videoId}`, "bob");
    expect(await api.videos.getReel(second.body.id as string)).toBeNull();
  });
});

/** A JPEG: ffprobe reads it as a one-frame video stream, which the pipeline must refuse. */
async function ffmpegStill(dir: string): Promise<Buffer> {
  const file = path.join(dir, "still.jpg");
  const r = spawnSync("ffmpeg", [
    "-v",
    "error",
    "-y",
    "-f",
    "lavfi",
    "-i",
    "testsrc=size=320x240",
    "-frames:v",
    "1",
    file,
  ]);
  if (r.status !== 0) throw new Error(r.stderr.toString());
  return readFile(file);
}
