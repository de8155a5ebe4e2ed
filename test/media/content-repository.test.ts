import { createHash, randomBytes } from "node:crypto";
import { connect } from "node:net";
import sharp from "sharp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { animatedGif, http, jpegWithExif, png, upload } from "./helpers.ts";

const AUTHED = "/_matrix/client/v1/media";
let server: TestServer;
let alice: { userId: string; accessToken: string };
let bob: { userId: string; accessToken: string };

beforeAll(async () => {
  server = await startTestServer({
    NOVA_MEDIA_MAX_UPLOAD: String(2 * 1024 * 1024),
    NOVA_MEDIA_MAX_PENDING: "5",
  });
  alice = await server.register();
  bob = await server.register();
});
afterAll(async () => {
  await server?.close();
});

const dl = (u: { serverName: string; mediaId: string }, suffix = "") =>
  `${AUTHED}/download/${u.serverName}/${u.mediaId}${suffix}`;

describe("upload and authenticated download", () => {
  it("round-trips bytes with the spec's headers", async () => {
    const body = await png(64, 48);
    const u = await upload(server, alice.accessToken, body, {
      contentType: "image/png",
      filename: "cat.png",
    });
    expect(u.serverName).toBe("localhost");
    expect(u.mediaId).toMatch(/^[A-Za-z0-9]{24}$/);
    const r = await http(server, "GET", dl(u), { token: bob.accessToken });
    expect(r.status).toBe(200);
    expect(r.bytes.equals(body)).toBe(true);
    expect(r.headers.get("content-type")).toBe("image/png");
    expect(r.headers.get("content-disposition")).toBe("inline; filename=cat.png");
    expect(r.headers.get("content-security-policy")).toContain("sandbox");
    expect(r.headers.get("cross-origin-resource-policy")).toBe("cross-origin");
    expect(r.headers.get("x-content-type-options")).toBe("nosniff");
    expect(r.headers.get("access-control-allow-origin")).toBe("*");
    expect(r.headers.get("etag")).toBe(`"${createHash("sha256").update(body).digest("hex")}"`);
  });

  it("names the file from the path, encodes unicode names, and sends HTML and SVG as attachments", async () => {
    const html = await upload(server, alice.accessToken, Buffer.from("<html><script>alert(1)</script>"), {
      contentType: "text/html",
      filename: "päge ✓.html",
    });
    const r = await http(server, "GET", dl(html), { token: alice.accessToken });
    expect(r.headers.get("content-type")).toBe("text/html; charset=UTF-8");
    expect(r.headers.get("content-disposition")).toBe(
      `attachment; filename*=utf-8''${encodeURIComponent("päge ✓.html")}`,
    );
    const svg = await upload(
      server,
      alice.accessToken,
      Buffer.from('<svg xmlns="http://www.w3.org/2000/svg"/>'),
      {
        contentType: "image/svg+xml",
      },
    );
    const s = await http(server, "GET", dl(svg, "/other.svg"), { token: alice.accessToken });
    expect(s.headers.get("content-disposition")).toBe("attachment; filename=other.svg");
  });

  it("defaults a missing type, refuses a malformed one, and serves mislabelled bytes as octet-stream", async () => {
    const none = await upload(server, alice.accessToken, Buffer.from("plain bytes"));
    const r = await http(server, "GET", dl(none), { token: alice.accessToken });
    expect(r.headers.get("content-type")).toBe("application/octet-stream");
    expect(r.headers.get("content-disposition")).toBe("attachment");
    const bad = await http(server, "POST", "/_matrix/media/v3/upload", {
      token: alice.accessToken,
      body: Buffer.from("x"),
      headers: { "Content-Type": "not a type" },
    });
    expect(bad.status).toBe(400);
    expect(bad.json.errcode).toBe("M_INVALID_PARAM");
    // An encrypted blob labelled image/png: the bytes are not PNG, so they are not served as one.
    const blob = await upload(server, alice.accessToken, randomBytes(1000), { contentType: "image/png" });
    const b = await http(server, "GET", dl(blob), { token: alice.accessToken });
    expect(b.headers.get("content-type")).toBe("application/octet-stream");
    expect(b.headers.get("content-disposition")).toBe("attachment");
  });

  it("stores a zero-byte upload and serves it back empty", async () => {
    const u = await upload(server, alice.accessToken, Buffer.alloc(0), { contentType: "text/plain" });
    const r = await http(server, "GET", dl(u), { token: alice.accessToken });
    expect(r.status).toBe(200);
    expect(r.bytes.length).toBe(0);
  });

  it("requires a token on the authenticated paths and on upload", async () => {
    const u = await upload(server, alice.accessToken, Buffer.from("secret"));
    expect((await http(server, "GET", dl(u))).json.errcode).toBe("M_MISSING_TOKEN");
    const up = await http(server, "POST", "/_matrix/media/v3/upload", { body: Buffer.from("x") });
    expect(up.status).toBe(401);
    expect((await http(server, "GET", `${AUTHED}/config`)).status).toBe(401);
  });

  it("answers 404 for unknown media and other servers, 400 for malformed ids", async () => {
    const t = alice.accessToken;
    expect(
      (await http(server, "GET", `${AUTHED}/download/localhost/AAAAAAAAAAAAAAAAAAAAAAAA`, { token: t })).json,
    ).toMatchObject({ errcode: "M_NOT_FOUND" });
    expect(
      (await http(server, "GET", `${AUTHED}/download/elsewhere.org/abc`, { token: t })).json.errcode,
    ).toBe("M_NOT_FOUND");
    const traversal = await http(server, "GET", `${AUTHED}/download/localhost/..%2F..%2Fetc%2Fpasswd`, {
      token: t,
    });
    expect(traversal.status).toBe(400);
    expect(traversal.json.errcode).toBe("M_INVALID_PARAM");
    const badServer = await http(server, "GET", `${AUTHED}/download/bad%20server/abc`, { token: t });
    expect(badServer.status).toBe(400);
    const u = await upload(server, t, Buffer.from("abc"));
    const nul = await http(server, "GET", dl(u, "/a%00b"), { token: t });
    expect(nul.status).toBe(400);
    const slash = await http(server, "GET", dl(u, "/..%2F..%2Fx"), { token: t });
    expect(slash.status).toBe(200);
    expect(slash.headers.get("content-disposition")).toContain("filename*=utf-8''..%2F..%2Fx");
  });

  it("refuses an upload over the limit with 413 and reports the limit in /config", async () => {
    const big = await http(server, "POST", "/_matrix/media/v3/upload", {
      token: alice.accessToken,
      body: Buffer.alloc(2 * 1024 * 1024 + 1),
    });
    expect(big.status).toBe(413);
    expect(big.json.errcode).toBe("M_TOO_LARGE");
    for (const path of [`${AUTHED}/config`, "/_matrix/media/v3/config"]) {
      const c = await http(server, "GET", path, { token: alice.accessToken });
      expect(c.json).toEqual({ "m.upload.size": 2 * 1024 * 1024 });
    }
  });

  it("serves byte ranges, HEAD and If-None-Match", async () => {
    const body = randomBytes(10_000);
    const u = await upload(server, alice.accessToken, body, { contentType: "video/mp4" });
    const part = await http(server, "GET", dl(u), {
      token: alice.accessToken,
      headers: { Range: "bytes=100-199" },
    });
    expect(part.status).toBe(206);
    expect(part.headers.get("content-range")).toBe("bytes 100-199/10000");
    expect(part.bytes.equals(body.subarray(100, 200))).toBe(true);
    const tail = await http(server, "GET", dl(u), {
      token: alice.accessToken,
      headers: { Range: "bytes=-10" },
    });
    expect(tail.bytes.equals(body.subarray(9990))).toBe(true);
    const bad = await http(server, "GET", dl(u), {
      token: alice.accessToken,
      headers: { Range: "bytes=20000-" },
    });
    expect(bad.status).toBe(416);
    expect(bad.headers.get("content-range")).toBe("bytes */10000");
    const head = await http(server, "HEAD", dl(u), { token: alice.accessToken });
    expect(head.status).toBe(200);
    expect(head.headers.get("content-length")).toBe("10000");
    expect(head.bytes.length).toBe(0);
    const etag = head.headers.get("etag") ?? "";
    const again = await http(server, "GET", dl(u), {
      token: alice.accessToken,
      headers: { "If-None-Match": etag },
    });
    expect(again.status).toBe(304);
  });

  it("keeps an identical file once on disk but as two media ids", async () => {
    const body = randomBytes(4096);
    const a = await upload(server, alice.accessToken, body);
    const b = await upload(server, bob.accessToken, body);
    expect(a.mediaId).not.toBe(b.mediaId);
    const keys = await server.media?.blobs.list("sha256");
    const hex = createHash("sha256").update(body).digest("hex");
    expect(keys?.filter((k) => k.endsWith(hex))).toHaveLength(1);
  });

  it("stores nothing from a body cut short, and keeps serving", async () => {
    const before = (await server.media?.blobs.list("sha256"))?.length ?? 0;
    const port = Number(new URL(server.baseUrl).port);
    await new Promise<void>((resolve, reject) => {
      const sock = connect(port, "127.0.0.1", () => {
        sock.write(
          `POST /_matrix/media/v3/upload HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${alice.accessToken}\r\n` +
            "Content-Type: application/octet-stream\r\nContent-Length: 100000\r\n\r\n",
        );
        sock.write(randomBytes(5000), () => setTimeout(() => sock.destroy(), 100));
      });
      sock.on("close", () => resolve());
      sock.on("error", reject);
    });
    await new Promise((r) => setTimeout(r, 200));
    expect((await server.media?.blobs.list("sha256"))?.length ?? 0).toBe(before);
    const ok = await upload(server, alice.accessToken, Buffer.from("after the cut"));
    expect(ok.mediaId).toHaveLength(24);
  });

  it("refuses a filename that is not UTF-8", async () => {
    const r = await http(server, "POST", "/_matrix/media/v3/upload?filename=%FF%FE", {
      token: alice.accessToken,
      body: Buffer.from("x"),
    });
    expect(r.status).toBe(400);
  });
});

describe("asynchronous upload (MSC2246)", () => {
  const create = (token: string) => http(server, "POST", "/_matrix/media/v1/create", { token });
  const put = (token: string, mxc: string, body: Buffer) =>
    http(server, "PUT", `/_matrix/media/v3/upload/${mxc.slice("mxc://".length)}`, {
      token,
      body,
      headers: { "Content-Type": "text/plain" },
    });

  it("creates, waits, uploads, and refuses a second upload, another user and unknown ids", async () => {
    const c = await create(alice.accessToken);
    expect(c.status).toBe(200);
    const mxc = c.json.content_uri as string;
    expect(c.json.unused_expires_at).toBeGreaterThan(Date.now() + 23 * 3600_000);
    const id = mxc.slice("mxc://localhost/".length);
    const early = await http(server, "GET", `${AUTHED}/download/localhost/${id}?timeout_ms=600`, {
      token: bob.accessToken,
    });
    expect(early.status).toBe(504);
    expect(early.json.errcode).toBe("M_NOT_YET_UPLOADED");
    // A reader already waiting gets the bytes as soon as they arrive.
    const waiting = http(server, "GET", `${AUTHED}/download/localhost/${id}?timeout_ms=10000`, {
      token: bob.accessToken,
    });
    expect((await put(bob.accessToken, mxc, Buffer.from("nope"))).status).toBe(403);
    expect((await put(alice.accessToken, mxc, Buffer.from("hello"))).status).toBe(200);
    const got = await waiting;
    expect(got.status).toBe(200);
    expect(got.bytes.toString()).toBe("hello");
    const second = await put(alice.accessToken, mxc, Buffer.from("again"));
    expect(second.status).toBe(409);
    expect(second.json.errcode).toBe("M_CANNOT_OVERWRITE_MEDIA");
    expect((await put(alice.accessToken, "mxc://localhost/NeverCreatedId", Buffer.from("x"))).status).toBe(
      404,
    );
    expect((await put(alice.accessToken, "mxc://elsewhere.org/abc", Buffer.from("x"))).status).toBe(404);
  });

  it("caps pending ids per user with 429 and Retry-After", async () => {
    const carol = await server.register();
    for (let i = 0; i < 5; i++) expect((await create(carol.accessToken)).status).toBe(200);
    const sixth = await create(carol.accessToken);
    expect(sixth.status).toBe(429);
    expect(sixth.json.errcode).toBe("M_LIMIT_EXCEEDED");
    expect(Number(sixth.headers.get("retry-after"))).toBeGreaterThan(0);
  });
});

describe("thumbnails", () => {
  const thumb = (u: { serverName: string; mediaId: string }, q: string, token = alice.accessToken) =>
    http(server, "GET", `${AUTHED}/thumbnail/${u.serverName}/${u.mediaId}?${q}`, { token });

  it("crops to the requested size and scales keeping the aspect ratio, never upscaling", async () => {
    const u = await upload(server, alice.accessToken, await png(1000, 500), { contentType: "image/png" });
    const crop = await thumb(u, "width=96&height=96&method=crop");
    expect(crop.status).toBe(200);
    expect(crop.headers.get("content-type")).toBe("image/png");
    expect(crop.headers.get("content-disposition")).toMatch(/^inline/);
    expect(await sharp(crop.bytes).metadata()).toMatchObject({ width: 96, height: 96 });
    const scale = await thumb(u, "width=320&height=240&method=scale");
    expect(await sharp(scale.bytes).metadata()).toMatchObject({ width: 320, height: 160 });
    const odd = await thumb(u, "width=150&height=150&method=scale");
    expect(await sharp(odd.bytes).metadata()).toMatchObject({ width: 150, height: 75 });
    const huge = await thumb(u, "width=4000&height=4000&method=scale");
    expect(await sharp(huge.bytes).metadata()).toMatchObject({ width: 1000, height: 500 });
  });

  it("pre-generates the spec's sizes on upload", async () => {
    const u = await upload(server, alice.accessToken, await png(1200, 900), { contentType: "image/png" });
    await server.media?.service.idle();
    const keys = (await server.media?.blobs.list(`thumbnails/${u.mediaId}`)) ?? [];
    expect(keys.map((k) => k.split("/").pop()).sort()).toEqual(
      ["320x240-scale", "32x32-crop", "640x480-scale", "800x600-scale", "96x96-crop"].sort(),
    );
  });

  it("applies EXIF orientation and strips EXIF from thumbnails", async () => {
    const body = await jpegWithExif(400, 200, 6); // rotated 90°: shown as 200×400
    const u = await upload(server, alice.accessToken, body, { contentType: "image/jpeg" });
    const r = await thumb(u, "width=100&height=200&method=scale");
    const meta = await sharp(r.bytes).metadata();
    expect(r.headers.get("content-type")).toBe("image/jpeg");
    expect([meta.width, meta.height]).toEqual([100, 200]);
    expect(meta.exif).toBeUndefined();
    expect(meta.orientation).toBeUndefined();
    // The original is never changed.
    const orig = await http(server, "GET", dl(u), { token: alice.accessToken });
    expect(orig.bytes.equals(body)).toBe(true);
  });

  it("keeps animation only when asked", async () => {
    const u = await upload(server, alice.accessToken, await animatedGif(200, 200, 3), {
      contentType: "image/gif",
    });
    const still = await thumb(u, "width=50&height=50&method=scale&animated=false");
    expect((await sharp(still.bytes, { animated: true }).metadata()).pages ?? 1).toBe(1);
    const moving = await thumb(u, "width=50&height=50&method=scale&animated=true");
    expect(moving.headers.get("content-type")).toBe("image/webp");
    expect((await sharp(moving.bytes, { animated: true }).metadata()).pages).toBe(3);
  });

  it("refuses non-images, corrupt images and bad parameters with 400, never a 500", async () => {
    const text = await upload(server, alice.accessToken, Buffer.from("hello"), { contentType: "text/plain" });
    expect((await thumb(text, "width=32&height=32")).status).toBe(400);
    const good = await png(300, 300);
    const corrupt = await upload(server, alice.accessToken, good.subarray(0, 200), {
      contentType: "image/png",
    });
    const c = await thumb(corrupt, "width=32&height=32");
    expect(c.status).toBe(400);
    const u = await upload(server, alice.accessToken, await png(100, 100), { contentType: "image/png" });
    expect((await thumb(u, "height=32")).json.errcode).toBe("M_MISSING_PARAM");
    expect((await thumb(u, "width=-1&height=32")).json.errcode).toBe("M_INVALID_PARAM");
    expect((await thumb(u, "width=32&height=32&method=stretch")).status).toBe(400);
    // The original is smaller than the request: it is served as it is.
    const small = await thumb(u, "width=200&height=200&method=crop");
    expect(small.bytes.equals(await png(100, 100))).toBe(true);
  });
});

describe("legacy unauthenticated endpoints", () => {
  it("404 for media created after the freeze (a new server freezes from day one)", async () => {
    const u = await upload(server, alice.accessToken, await png(10, 10), { contentType: "image/png" });
    const r = await http(server, "GET", `/_matrix/media/v3/download/${u.serverName}/${u.mediaId}`);
    expect(r.status).toBe(404);
    expect(r.json.errcode).toBe("M_NOT_FOUND");
    const t = await http(
      server,
      "GET",
      `/_matrix/media/v3/thumbnail/${u.serverName}/${u.mediaId}?width=5&height=5`,
    );
    expect(t.status).toBe(404);
  });

  it("serves media from before a configured freeze without a token", async () => {
    const later = await startTestServer({ NOVA_MEDIA_LEGACY_FREEZE: "2999-01-01T00:00:00Z" });
    try {
      const user = await later.register();
      const u = await upload(later, user.accessToken, Buffer.from("old media"), {
        contentType: "text/plain",
      });
      const r = await http(later, "GET", `/_matrix/media/v3/download/${u.serverName}/${u.mediaId}`);
      expect(r.status).toBe(200);
      expect(r.bytes.toString()).toBe("old media");
      const r0 = await http(later, "GET", `/_matrix/media/r0/download/${u.serverName}/${u.mediaId}/x.txt`);
      expect(r0.headers.get("content-disposition")).toBe("inline; filename=x.txt");
    } finally {
      await later.close();
    }
  });
});

describe("limits", () => {
  it("enforces the per-user quota with 403 M_RESOURCE_LIMIT_EXCEEDED", async () => {
    const q = await startTestServer({ NOVA_MEDIA_QUOTA_BYTES: "1000" });
    try {
      const user = await q.register();
      await upload(q, user.accessToken, Buffer.alloc(600));
      const r = await http(q, "POST", "/_matrix/media/v3/upload", {
        token: user.accessToken,
        body: Buffer.alloc(600),
      });
      expect(r.status).toBe(403);
      expect(r.json.errcode).toBe("M_RESOURCE_LIMIT_EXCEEDED");
    } finally {
      await q.close();
    }
  });

  it("rate-limits uploads with 429", async () => {
    const q = await startTestServer({ NOVA_RATELIMIT_MEDIA_UPLOAD: "1:3" });
    try {
      const user = await q.register();
      const statuses: number[] = [];
      for (let i = 0; i < 4; i++) {
        statuses.push(
          (
            await http(q, "POST", "/_matrix/media/v3/upload", {
              token: user.accessToken,
              body: Buffer.from("x"),
            })
          ).status,
        );
      }
      expect(statuses).toEqual([200, 200, 200, 429]);
    } finally {
      await q.close();
    }
  });
});
