import { spawnSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import { createRequire } from "node:module";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { Upload as TusUpload } from "tus-js-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { http, png, upload } from "./helpers.ts";

/**
 * The media service's parts as `npm start` wires them into the homeserver: resumable uploads,
 * URL previews, CDN signed URLs, the S3 adapter, and messaging recording which events use which
 * media. Each part's own behaviour is tested beside it; this checks they reach the real library.
 */
let server: TestServer;
let user: { userId: string; accessToken: string };
let site: Server;
let siteUrl: string;

beforeAll(async () => {
  const image = await png(300, 200);
  site = createServer((req, res) => {
    if (req.url === "/page") {
      res.writeHead(200, { "content-type": "text/html; charset=utf-8" });
      res.end(
        `<html><head><meta property="og:title" content="Nova news"><meta property="og:image" content="/img.png"></head></html>`,
      );
    } else if (req.url === "/img.png") {
      res.writeHead(200, { "content-type": "image/png" });
      res.end(image);
    } else {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((r) => site.listen(0, "127.0.0.1", r));
  siteUrl = `http://127.0.0.1:${(site.address() as AddressInfo).port}`;
  server = await startTestServer({
    NOVA_MEDIA_PREVIEW_ALLOW_LOOPBACK: "1",
    NOVA_CDN_BASE_URL: "http://cdn.example",
    NOVA_CDN_SECRET: "a-test-secret-of-enough-length",
  });
  user = await server.register();
});
afterAll(async () => {
  await server?.close();
  await new Promise((r) => site?.close(r));
});

describe("media wired into the homeserver", () => {
  it("completes a tus upload into a downloadable mxc URI", async () => {
    const file = randomBytes(3 * 1024 * 1024 + 17);
    const mxc = await new Promise<string>((resolve, reject) => {
      const up = new TusUpload(file, {
        endpoint: `${server.baseUrl}/_nova/v1/media/uploads`,
        headers: { Authorization: `Bearer ${user.accessToken}` },
        chunkSize: 1024 * 1024,
        retryDelays: null,
        metadata: { filename: "blob.bin", filetype: "application/octet-stream" },
        onSuccess: (payload) => resolve(payload.lastResponse.getHeader("X-Nova-Content-Uri") ?? ""),
        onError: reject,
      });
      up.start();
    });
    expect(mxc).toMatch(/^mxc:\/\/localhost\//);
    const r = await http(server, "GET", `/_matrix/client/v1/media/download/${mxc.slice(6)}`, {
      token: user.accessToken,
    });
    expect(createHash("sha256").update(r.bytes).digest("hex")).toBe(
      createHash("sha256").update(file).digest("hex"),
    );
    expect(r.headers.get("content-disposition")).toBe("attachment; filename=blob.bin");
  });

  it("previews a page with its image re-hosted as local media", async () => {
    const r = await http(
      server,
      "GET",
      `/_matrix/client/v1/media/preview_url?url=${encodeURIComponent(`${siteUrl}/page`)}`,
      { token: user.accessToken },
    );
    expect(r.status).toBe(200);
    expect(r.json["og:title"]).toBe("Nova news");
    const mxc = r.json["og:image"] as string;
    expect(mxc).toMatch(/^mxc:\/\/localhost\//);
    expect(r.json["og:image:width"]).toBe(300);
    const img = await http(server, "GET", `/_matrix/client/v1/media/download/${mxc.slice(6)}`, {
      token: user.accessToken,
    });
    expect(img.headers.get("content-type")).toBe("image/png");
  });

  it("serves signed CDN URLs without a token, and refuses forged or expired ones", async () => {
    const u = await upload(server, user.accessToken, await png(200, 200), { contentType: "image/png" });
    const signed = await http(server, "POST", "/_nova/v1/media/signed_url", {
      token: user.accessToken,
      body: JSON.stringify({ mxc: u.mxc }),
    });
    expect(signed.status).toBe(200);
    const url = new URL(signed.json.url as string);
    expect(url.origin).toBe("http://cdn.example");
    const ok = await http(server, "GET", url.pathname + url.search);
    expect(ok.status).toBe(200);
    expect(ok.headers.get("content-type")).toBe("image/png");
    expect(ok.headers.get("cache-control")).toMatch(/^public, max-age=\d+, immutable$/);
    const forged = await http(
      server,
      "GET",
      `${url.pathname.replace(u.mediaId, "AAAAAAAAAAAAAAAAAAAAAAAA")}${url.search}`,
    );
    expect(forged.status).toBe(403);
    const noSig = await http(server, "GET", url.pathname);
    expect(noSig.status).toBe(403);
    const thumb = await http(server, "POST", "/_nova/v1/media/signed_url", {
      token: user.accessToken,
      body: JSON.stringify({ mxc: u.mxc, thumbnail: { width: 32, height: 32, method: "crop" } }),
    });
    const t = new URL(thumb.json.url as string);
    const tr = await http(server, "GET", t.pathname + t.search);
    expect(tr.status).toBe(200);
    const expired = new URLSearchParams(url.search);
    expired.set("expires", "1000");
    expect((await http(server, "GET", `${url.pathname}?${expired}`)).status).toBe(403);
  });

  it("records the mxc URIs an event references in message_attachments", async () => {
    const u = await upload(server, user.accessToken, await png(20, 20), { contentType: "image/png" });
    const room = await server.call("POST", "/_matrix/client/v3/createRoom", {
      token: user.accessToken,
      body: {},
    });
    const roomId = room.body.room_id as string;
    const sent = await server.call("PUT", `/_matrix/client/v3/rooms/${roomId}/send/m.room.message/t1`, {
      token: user.accessToken,
      body: { msgtype: "m.image", body: "x.png", url: u.mxc, info: { thumbnail_url: u.mxc } },
    });
    const db = server.ctx.databases.get<{
      message_attachments: { event_id: string; mxc_url: string; room_id: string };
    }>("messaging").db;
    const rows = await db
      .selectFrom("message_attachments")
      .selectAll()
      .where("event_id", "=", sent.body.event_id as string)
      .execute();
    expect(rows.map((r) => [r.mxc_url, r.room_id])).toEqual([[u.mxc, roomId]]);
  });
});

const ffmpeg = ["ffmpeg", "ffprobe"].every((b) => spawnSync(b, ["-version"]).status === 0);
if (!ffmpeg && process.env.CI) throw new Error("wiring.test: ffmpeg/ffprobe missing in CI");
if (!ffmpeg) console.log("wiring.test: video part skipped, needs ffmpeg and ffprobe on PATH (.ci/ffmpeg.sh)");

describe.skipIf(!ffmpeg)("video through the homeserver (needs ffmpeg; CI installs it)", () => {
  it("transcodes an uploaded clip and plays it through a signed CDN URL", async () => {
    const dir = await mkdtemp(path.join(tmpdir(), "nova-clip-"));
    const file = path.join(dir, "clip.mp4");
    const made = spawnSync("ffmpeg", [
      ...["-v", "error", "-f", "lavfi", "-i", "testsrc=size=640x360:rate=25", "-t", "2"],
      ...["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", file],
    ]);
    expect(made.status, made.stderr.toString()).toBe(0);
    const clip = await readFile(file);
    await rm(dir, { recursive: true, force: true });
    const u = await upload(server, user.accessToken, clip, { contentType: "video/mp4" });
    // The upload queued its own transcode; registering it answers that video, twice the same.
    await server.media?.service.idle();
    const mediaDb = server.ctx.databases.get<{ videos: { id: string; upload_id: string } }>("media").db;
    const queued = await mediaDb
      .selectFrom("videos")
      .select("id")
      .where("upload_id", "=", u.mediaId)
      .execute();
    expect(queued).toHaveLength(1);
    const created = await http(server, "POST", "/_nova/v1/videos", {
      token: user.accessToken,
      body: JSON.stringify({ mxc: u.mxc, title: "test clip" }),
    });
    expect(created.status).toBe(202);
    const id = created.json.video_id as string;
    expect(id).toBe(queued[0]?.id);
    const again = await http(server, "POST", "/_nova/v1/videos", {
      token: user.accessToken,
      body: JSON.stringify({ mxc: u.mxc }),
    });
    expect(again.json.video_id).toBe(id);
    let video: Record<string, unknown> = {};
    for (let i = 0; i < 120 && video.stage !== "ready" && video.stage !== "failed"; i++) {
      await new Promise((r) => setTimeout(r, 250));
      video = (await http(server, "GET", `/_nova/v1/videos/${id}`, { token: user.accessToken })).json;
    }
    expect(video.stage).toBe("ready");
    expect(await server.media?.service.getVideo(id)).toMatchObject({ id, stage: "ready" });
    const signed = await http(server, "POST", "/_nova/v1/media/signed_url", {
      token: user.accessToken,
      body: JSON.stringify({ video_id: id }),
    });
    const master = new URL(signed.json.url as string);
    const m = await http(server, "GET", master.pathname);
    expect(m.status).toBe(200);
    expect(m.headers.get("content-type")).toBe("application/vnd.apple.mpegurl");
    // The player resolves each relative URI against the master's URL, signature included.
    const rendition =
      m.bytes
        .toString()
        .split("\n")
        .find((l) => l.endsWith(".m3u8")) ?? "";
    const playlist = new URL(rendition, master);
    const p = await http(server, "GET", playlist.pathname);
    expect(p.status).toBe(200);
    const segment = new URL(
      p.bytes
        .toString()
        .split("\n")
        .find((l) => l.endsWith(".ts")) ?? "",
      playlist,
    );
    const seg = await http(server, "GET", segment.pathname);
    expect(seg.status).toBe(200);
    expect(seg.headers.get("content-type")).toBe("video/mp2t");
    const tampered = master.pathname.replace(/\/hls\//, "x/hls/");
    expect((await http(server, "GET", tampered)).status).toBe(403);
  });
});

describe("previews off", () => {
  it("answers 404 M_UNRECOGNIZED", async () => {
    const off = await startTestServer({ NOVA_MEDIA_PREVIEWS: "0" });
    try {
      const u = await off.register();
      const r = await http(off, "GET", "/_matrix/client/v1/media/preview_url?url=http%3A%2F%2Fexample.org", {
        token: u.accessToken,
      });
      expect(r.status).toBe(404);
      expect(r.json.errcode).toBe("M_UNRECOGNIZED");
    } finally {
      await off.close();
    }
  });
});

type S3rverInstance = { run(): Promise<AddressInfo>; close(): Promise<void> };
type S3rverCtor = new (o: {
  address: string;
  port: number;
  directory: string;
  silent: boolean;
}) => S3rverInstance;
const S3rver = createRequire(import.meta.url)("s3rver") as S3rverCtor;

describe("S3 storage (NOVA_MEDIA_STORAGE=s3, against s3rver on loopback)", () => {
  it("stores uploads and thumbnails in the bucket and serves them back", async () => {
    const dir = await mkdtemp(path.join(tmpdir(), "nova-s3-"));
    const s3 = new S3rver({ address: "127.0.0.1", port: 0, directory: dir, silent: true });
    const addr = await s3.run();
    const withS3 = await startTestServer({
      NOVA_MEDIA_STORAGE: "s3",
      NOVA_MEDIA_S3_ENDPOINT: `http://127.0.0.1:${addr.port}`,
      NOVA_MEDIA_S3_BUCKET: "nova-media",
      NOVA_MEDIA_S3_ACCESS_KEY: "S3RVER",
      NOVA_MEDIA_S3_SECRET_KEY: "S3RVER",
    });
    try {
      expect(withS3.media?.blobs.kind).toBe("s3");
      const u = await withS3.register();
      const body = await png(400, 300);
      const up = await upload(withS3, u.accessToken, body, { contentType: "image/png" });
      const r = await http(withS3, "GET", `/_matrix/client/v1/media/download/localhost/${up.mediaId}`, {
        token: u.accessToken,
      });
      expect(r.bytes.equals(body)).toBe(true);
      const t = await http(
        withS3,
        "GET",
        `/_matrix/client/v1/media/thumbnail/localhost/${up.mediaId}?width=96&height=96&method=crop`,
        {
          token: u.accessToken,
        },
      );
      expect(t.status).toBe(200);
      await withS3.media?.service.idle();
      // 400×300: 32×32 and 96×96 crops and the 320×240 scale; the larger scales would be the original.
      expect((await withS3.media?.blobs.list("thumbnails"))?.length).toBe(3);
    } finally {
      await withS3.close();
      await s3.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
