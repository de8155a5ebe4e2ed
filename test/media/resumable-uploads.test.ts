import { createHash, randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import net from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import type { Kysely } from "kysely";
import { Upload as TusUpload } from "tus-js-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { MediaInfo } from "../../companion-services/media/client.ts";
import { mxcOf, newMediaId } from "../../companion-services/media/ids.ts";
import type { MediaLibrary } from "../../companion-services/media/library.ts";
import {
  createResumableUploads,
  type ResumableUploads,
} from "../../companion-services/media/resumable/index.ts";
import { SessionsRepository } from "../../companion-services/media/resumable/sessions.repository.ts";
import { type BlobStore, contentKey } from "../../companion-services/media/storage/blob-store.ts";
import { FilesystemBlobStore } from "../../companion-services/media/storage/filesystem.ts";
import type { MediaTables } from "../../companion-services/media/tables.ts";
import { MatrixError, unknownToken } from "../../companion-services/platform/errors.ts";
import { Router } from "../../companion-services/platform/http/router.ts";
import { HttpServer } from "../../companion-services/platform/http/server.ts";
import { metricValue } from "../helpers/metrics.ts";
import { openFresh, silentLogger } from "../platform/helpers.ts";

const MiB = 1024 * 1024;
const BASE = "/_nova/v1/media/uploads";
const MAX_UPLOAD = 32 * MiB;

/** The content repository as resumable uploads see it, on the same BlobStore (the real one is the lead's). */
class TestLibrary implements MediaLibrary {
  readonly serverName = "test.nova";
  readonly stored = new Map<
    string,
    { userId: string; sha256: string; contentType?: string; uploadName?: string }
  >();
  /** The next storeUpload fails with this (a quota, say) instead of storing. */
  failNext: MatrixError | null = null;
  constructor(readonly blobs: BlobStore) {}

  async storeUpload(input: { userId: string; bytes: Buffer; contentType?: string; uploadName?: string }) {
    const fail = this.failNext;
    this.failNext = null;
    if (fail) throw fail;
    const sha256 = createHash("sha256").update(input.bytes).digest("hex");
    await this.blobs.put(contentKey(sha256), input.bytes);
    const mediaId = newMediaId();
    this.stored.set(mediaId, {
      userId: input.userId,
      sha256,
      ...(input.contentType ? { contentType: input.contentType } : {}),
      ...(input.uploadName ? { uploadName: input.uploadName } : {}),
    });
    return { mediaId, mxc: mxcOf(this.serverName, mediaId) };
  }

  async info(mediaId: string): Promise<MediaInfo | null> {
    const m = this.stored.get(mediaId);
    if (!m) return null;
    const size = await this.blobs.size(contentKey(m.sha256));
    return {
      mxc: mxcOf(this.serverName, mediaId),
      serverName: this.serverName,
      mediaId,
      userId: m.userId,
      contentType: m.contentType ?? null,
      uploadName: m.uploadName ?? null,
      bytes: size,
      sha256: m.sha256,
      width: null,
      height: null,
      createdAt: 0,
      pending: false,
    };
  }

  async bytes(mediaId: string): Promise<Buffer | null> {
    const m = this.stored.get(mediaId);
    return m ? this.blobs.get(contentKey(m.sha256)) : null;
  }
}

const USERS: Record<string, string> = { alice: "@alice:test.nova", bob: "@bob:test.nova" };

/**
 * A TCP proxy in front of the server that cuts every connection once `cutAfter` bytes have gone
 * from the client to the server, and refuses connections from then on (a network that dies).
 */
async function cuttingProxy(target: number, cutAfter: number) {
  let forwarded = 0;
  let dead = false;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    if (dead) {
      client.destroy();
      return;
    }
    const upstream = net.connect(target, "127.0.0.1");
    sockets.add(client).add(upstream);
    const cut = () => {
      dead = true;
      for (const s of sockets) s.destroy();
    };
    client.on("data", (d: Buffer) => {
      forwarded += d.length;
      if (forwarded > cutAfter) cut();
      else upstream.write(d);
    });
    upstream.on("data", (d: Buffer) => client.write(d));
    client.on("error", () => upstream.destroy());
    upstream.on("error", () => client.destroy());
    client.on("close", () => upstream.destroy());
    upstream.on("close", () => client.destroy());
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as net.AddressInfo).port;
  return {
    port,
    forwarded: () => forwarded,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

describe("resumable uploads (tus on @tus/server)", () => {
  let env: Awaited<ReturnType<typeof openFresh>>;
  let db: Kysely<MediaTables>;
  let dir: string;
  let blobs: FilesystemBlobStore;
  let library: TestLibrary;
  let uploads: ResumableUploads;
  let server: HttpServer;
  let port: number;
  let base: string;

  beforeAll(async () => {
    env = await openFresh(["media"]);
    db = env.databases.get<MediaTables>("media").db;
    dir = await mkdtemp(path.join(tmpdir(), "nova-tus-"));
    blobs = new FilesystemBlobStore(dir);
    library = new TestLibrary(blobs);
    uploads = createResumableUploads({
      db,
      library,
      blobs,
      logger: silentLogger,
      settings: { maxUploadBytes: MAX_UPLOAD, chunkMaxBytes: 2 * MiB },
    });
    const router = new Router();
    uploads.mount(router);
    server = new HttpServer({
      router,
      logger: silentLogger,
      maxRequestBody: 64 * 1024,
      authenticate: async (token) => {
        const userId = USERS[token];
        if (!userId) throw unknownToken();
        return { userId, deviceId: "D", sessionId: `s-${token}`, isGuest: false };
      },
    });
    port = await server.listen("127.0.0.1", 0);
    base = `http://127.0.0.1:${port}`;
  });

  afterAll(async () => {
    await uploads?.stop();
    // A connection cut mid-body leaves the front counting it in flight: do not wait for it.
    await server?.close(100);
    await env?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const tus = (token: string | null, extra: Record<string, string> = {}) => ({
    "Tus-Resumable": "1.0.0",
    ...(token ? { Authorization: `Bearer ${token}` } : {}),
    ...extra,
  });

  const meta = (m: Record<string, string>) =>
    Object.entries(m)
      .map(([k, v]) => `${k} ${Buffer.from(v).toString("base64")}`)
      .join(",");

  /** POST a new session; returns its path (`Location` is relative to the request). */
  const create = async (length: number, token = "alice", metadata?: Record<string, string>) => {
    const r = await fetch(`${base}${BASE}`, {
      method: "POST",
      headers: tus(token, {
        "Upload-Length": String(length),
        ...(metadata ? { "Upload-Metadata": meta(metadata) } : {}),
      }),
    });
    expect(r.status).toBe(201);
    const location = r.headers.get("location");
    expect(location).toMatch(/^\/_nova\/v1\/media\/uploads\/[0-9a-f-]{36}$/);
    return location!;
  };

  const patch = (at: string, offset: number, body: Buffer, token = "alice") =>
    fetch(`${base}${at}`, {
      method: "PATCH",
      headers: tus(token, {
        "Upload-Offset": String(offset),
        "Content-Type": "application/offset+octet-stream",
      }),
      body: new Uint8Array(body),
    });

  const session = (at: string) =>
    db.selectFrom("upload_sessions").selectAll().where("id", "=", at.split("/").pop()!).executeTakeFirst();

  const sha = (b: Buffer) => createHash("sha256").update(b).digest("hex");

  it("resumes a 20 MiB upload cut mid-transfer from the server's acknowledged offset", async () => {
    const file = randomBytes(20 * MiB);
    const proxy = await cuttingProxy(port, Math.floor(5.5 * MiB));
    let uploadUrl: string | null = null;
    const firstLeg = await new Promise<Error>((resolve) => {
      const up = new TusUpload(file, {
        endpoint: `http://127.0.0.1:${proxy.port}${BASE}`,
        headers: { Authorization: "Bearer alice" },
        chunkSize: MiB,
        retryDelays: null,
        metadata: { filename: "random.bin", filetype: "application/octet-stream" },
        onUploadUrlAvailable: () => {
          uploadUrl = up.url;
        },
        onSuccess: () => resolve(new Error("the first leg should not finish")),
        onError: (err) => resolve(err),
      });
      up.start();
    });
    await proxy.close();
    expect(firstLeg.message).not.toContain("should not finish");
    expect(uploadUrl).not.toBeNull();
    const at = new URL(uploadUrl!).pathname;

    const before = await session(at);
    expect(before?.received_bytes).toBeGreaterThan(0);
    expect(before!.received_bytes % MiB).toBe(0);
    expect(before!.received_bytes).toBeLessThan(file.length);
    const bytesBefore = await metricValue("nova_media_resumable_bytes_received_total");

    let resumedFrom: number | null = null;
    let sentAfterResume = 0;
    const contentUri = await new Promise<string | undefined>((resolve, reject) => {
      const up = new TusUpload(file, {
        uploadUrl: `${base}${at}`,
        headers: { Authorization: "Bearer alice" },
        chunkSize: MiB,
        retryDelays: null,
        onBeforeRequest: (req) => {
          if (req.getMethod() === "PATCH" && resumedFrom === null)
            resumedFrom = Number(req.getHeader("Upload-Offset"));
        },
        onChunkComplete: (chunk) => {
          sentAfterResume += chunk;
        },
        onSuccess: ({ lastResponse }) => resolve(lastResponse.getHeader("X-Nova-Content-Uri")),
        onError: reject,
      });
      up.start();
    });

    expect(resumedFrom).toBe(before!.received_bytes);
    expect(sentAfterResume).toBe(file.length - before!.received_bytes);
    expect(sentAfterResume).toBeLessThan(file.length);
    expect(await metricValue("nova_media_resumable_bytes_received_total")).toBe(
      bytesBefore + sentAfterResume,
    );

    expect(contentUri).toMatch(/^mxc:\/\/test\.nova\/[A-Za-z0-9_-]+$/);
    const mediaId = contentUri!.split("/").pop()!;
    const stored = await library.bytes(mediaId);
    expect(sha(stored!)).toBe(sha(file));
    expect(library.stored.get(mediaId)).toMatchObject({
      userId: "@alice:test.nova",
      uploadName: "random.bin",
      contentType: "application/octet-stream",
    });

    const after = await session(at);
    expect(after).toMatchObject({ media_id: mediaId, received_bytes: file.length });
    expect(await blobs.list(`chunks/${after!.id}/`)).toEqual([]);

    // HEAD and GET of the completed upload both name the media.
    const head = await fetch(`${base}${at}`, { method: "HEAD", headers: tus("alice") });
    expect(head.status).toBe(200);
    expect(head.headers.get("upload-offset")).toBe(String(file.length));
    expect(head.headers.get("x-nova-content-uri")).toBe(contentUri);
    expect(head.headers.get("access-control-expose-headers")).toContain("X-Nova-Content-Uri");
    const get = await fetch(`${base}${at}`, { headers: { Authorization: "Bearer alice" } });
    expect(await get.json()).toEqual({ content_uri: contentUri, offset: file.length, length: file.length });
  }, 60_000);

  it("answers the final PATCH with the mxc URI, and GET tracks progress", async () => {
    const bytes = randomBytes(3000);
    const at = await create(bytes.length, "alice", { filename: "a.txt", filetype: "text/plain" });
    const progress = await fetch(`${base}${at}`, { headers: { Authorization: "Bearer alice" } });
    expect(await progress.json()).toEqual({ content_uri: null, offset: 0, length: 3000 });
    const first = await patch(at, 0, bytes.subarray(0, 1000));
    expect([first.status, first.headers.get("upload-offset")]).toEqual([204, "1000"]);
    expect(first.headers.get("x-nova-content-uri")).toBeNull();
    expect(first.headers.get("upload-expires")).toBeTruthy();
    const last = await patch(at, 1000, bytes.subarray(1000));
    expect([last.status, last.headers.get("upload-offset")]).toEqual([204, "3000"]);
    const mxc = last.headers.get("x-nova-content-uri");
    expect(mxc).toMatch(/^mxc:\/\/test\.nova\//);
    expect(sha((await library.bytes(mxc!.split("/").pop()!))!)).toBe(sha(bytes));
    const chunks = await db.selectFrom("upload_chunks").selectAll().execute();
    expect(chunks.filter((c) => at.endsWith(c.session_id))).toEqual([]);
  });

  it("requires an access token", async () => {
    const r = await fetch(`${base}${BASE}`, {
      method: "POST",
      headers: tus(null, { "Upload-Length": "10" }),
    });
    expect([r.status, ((await r.json()) as { errcode: string }).errcode]).toEqual([401, "M_MISSING_TOKEN"]);
    const at = await create(10);
    const p = await patch(at, 0, Buffer.alloc(10), "nobody");
    expect([p.status, ((await p.json()) as { errcode: string }).errcode]).toEqual([401, "M_UNKNOWN_TOKEN"]);
  });

  it("hides a session from everyone but its creator", async () => {
    const at = await create(10);
    const p = await patch(at, 0, Buffer.alloc(10), "bob");
    expect([p.status, ((await p.json()) as { errcode: string }).errcode]).toEqual([404, "M_NOT_FOUND"]);
    const head = await fetch(`${base}${at}`, { method: "HEAD", headers: tus("bob") });
    expect(head.status).toBe(404);
    const get = await fetch(`${base}${at}`, { headers: { Authorization: "Bearer bob" } });
    expect(get.status).toBe(404);
    const del = await fetch(`${base}${at}`, { method: "DELETE", headers: tus("bob") });
    expect(del.status).toBe(404);
    expect((await session(at))?.received_bytes).toBe(0);
    // An id that is no UUID never reaches storage.
    const bad = await fetch(`${base}${BASE}/..%2F..%2Fetc`, { method: "PATCH", headers: tus("alice") });
    expect(bad.status).toBe(400);
  });

  it("refuses an Upload-Length over the media limit, and deferred lengths", async () => {
    const r = await fetch(`${base}${BASE}`, {
      method: "POST",
      headers: tus("alice", { "Upload-Length": String(MAX_UPLOAD + 1) }),
    });
    expect([r.status, ((await r.json()) as { errcode: string }).errcode]).toEqual([413, "M_TOO_LARGE"]);
    const deferred = await fetch(`${base}${BASE}`, {
      method: "POST",
      headers: tus("alice", { "Upload-Defer-Length": "1" }),
    });
    expect(deferred.status).toBe(501);
    const bad = await fetch(`${base}${BASE}`, {
      method: "POST",
      headers: tus("alice", { "Upload-Length": "-3" }),
    });
    expect(bad.status).toBe(400);
    const noVersion = await fetch(`${base}${BASE}`, {
      method: "POST",
      headers: { Authorization: "Bearer alice", "Upload-Length": "3" },
    });
    expect(noVersion.status).toBe(412);
    const badName = await fetch(`${base}${BASE}`, {
      method: "POST",
      headers: tus("alice", { "Upload-Length": "3", "Upload-Metadata": meta({ filename: "a\nb" }) }),
    });
    expect([badName.status, ((await badName.json()) as { errcode: string }).errcode]).toEqual([
      400,
      "M_INVALID_PARAM",
    ]);
  });

  it("answers a wrong Upload-Offset with 409 and changes nothing", async () => {
    const at = await create(100);
    expect((await patch(at, 0, Buffer.alloc(40))).status).toBe(204);
    const stale = await patch(at, 0, Buffer.alloc(40));
    expect(stale.status).toBe(409);
    const ahead = await patch(at, 80, Buffer.alloc(20));
    expect(ahead.status).toBe(409);
    expect((await session(at))?.received_bytes).toBe(40);
    const parts = await db
      .selectFrom("upload_chunks")
      .select("part")
      .where("session_id", "=", at.split("/").pop()!)
      .execute();
    expect(parts).toEqual([{ part: 0 }]);
  });

  it("refuses a body that would overrun Upload-Length, or the per-PATCH limit", async () => {
    const at = await create(10);
    const over = await patch(at, 0, Buffer.alloc(20));
    expect([over.status, ((await over.json()) as { errcode: string }).errcode]).toEqual([413, "M_TOO_LARGE"]);
    expect((await session(at))?.received_bytes).toBe(0);
    const big = await create(4 * MiB);
    expect((await patch(big, 0, Buffer.alloc(2 * MiB + 1))).status).toBe(413);
    expect((await session(big))?.received_bytes).toBe(0);
  });

  it("terminates a session on DELETE, with its chunks", async () => {
    const at = await create(100);
    expect((await patch(at, 0, Buffer.alloc(50))).status).toBe(204);
    const id = at.split("/").pop()!;
    expect(await blobs.list(`chunks/${id}/`)).toEqual([`chunks/${id}/0`]);
    const del = await fetch(`${base}${at}`, { method: "DELETE", headers: tus("alice") });
    expect(del.status).toBe(204);
    expect(await session(at)).toBeUndefined();
    expect(await blobs.list(`chunks/${id}/`)).toEqual([]);
    expect((await fetch(`${base}${at}`, { method: "HEAD", headers: tus("alice") })).status).toBe(404);
  });

  it("expires sessions: 410 until swept, then gone with their chunks", async () => {
    const at = await create(100);
    expect((await patch(at, 0, Buffer.alloc(30))).status).toBe(204);
    const id = at.split("/").pop()!;
    await db
      .updateTable("upload_sessions")
      .set({ expires_at: Date.now() - 1000 })
      .where("id", "=", id)
      .execute();
    expect((await fetch(`${base}${at}`, { method: "HEAD", headers: tus("alice") })).status).toBe(410);
    expect((await patch(at, 30, Buffer.alloc(10))).status).toBe(410);
    const swept = await metricValue("nova_media_resumable_sessions_expired_total");
    expect(await uploads.sweep()).toBeGreaterThanOrEqual(1);
    expect(await metricValue("nova_media_resumable_sessions_expired_total")).toBeGreaterThan(swept);
    expect(await session(at)).toBeUndefined();
    expect(await blobs.list(`chunks/${id}/`)).toEqual([]);
    expect((await fetch(`${base}${at}`, { method: "HEAD", headers: tus("alice") })).status).toBe(404);
  });
  it("stores a creation-with-upload that carries every byte at once", async () => {
    const bytes = randomBytes(500);
    const r = await fetch(`${base}${BASE}`, {
      method: "POST",
      headers: tus("alice", {
        "Upload-Length": "500",
        "Content-Type": "application/offset+octet-stream",
        "Upload-Metadata": meta({ filename: "one-shot.bin" }),
      }),
      body: new Uint8Array(bytes),
    });
    expect([r.status, r.headers.get("upload-offset")]).toEqual([201, "500"]);
    const mxc = r.headers.get("x-nova-content-uri");
    expect(mxc).toMatch(/^mxc:\/\/test\.nova\//);
    const mediaId = mxc!.split("/").pop()!;
    expect(sha((await library.bytes(mediaId))!)).toBe(sha(bytes));
    expect(library.stored.get(mediaId)?.uploadName).toBe("one-shot.bin");
  });

  it("answers malformed tus requests with 4xx (501 for an extension not offered), never a 500", async () => {
    const at = await create(100);
    const octets = { "Content-Type": "application/offset+octet-stream" };
    const cases: [string, string, Record<string, string>, Buffer?][] = [
      ["PATCH", at, tus("alice", octets), Buffer.alloc(5)],
      ["PATCH", at, tus("alice", { ...octets, "Upload-Offset": "x" }), Buffer.alloc(5)],
      ["PATCH", at, tus("alice", { ...octets, "Upload-Offset": "-1" }), Buffer.alloc(5)],
      ["PATCH", at, tus("alice", { "Upload-Offset": "0", "Content-Type": "text/plain" }), Buffer.alloc(5)],
      ["PATCH", at, tus("alice", { "Upload-Offset": "0" }), Buffer.alloc(5)],
      [
        "PATCH",
        at,
        tus("alice", { ...octets, "Upload-Offset": "0", "Upload-Length": "100" }),
        Buffer.alloc(5),
      ],
      ["PATCH", at, tus("alice", { ...octets, "Upload-Offset": "99999999999999999999" }), Buffer.alloc(5)],
      ["POST", BASE, tus("alice", { "Upload-Length": "abc" })],
      ["POST", BASE, tus("alice", { "Upload-Length": "99999999999999999999" })],
      ["POST", BASE, tus("alice", { "Upload-Length": "10", "Upload-Defer-Length": "1" })],
      ["POST", BASE, tus("alice", { "Upload-Length": "10", "Upload-Metadata": "not base64 !!" })],
      [
        "POST",
        BASE,
        tus("alice", { "Upload-Length": "10", "Upload-Metadata": `filename ${"QUFB".repeat(2000)}` }),
      ],
      ["POST", BASE, tus("alice", { "Upload-Concat": "final;/a /b" })],
      ["POST", BASE, tus("alice", { "Upload-Length": "10", "Tus-Resumable": "0.2.0" })],
      ["HEAD", `${BASE}/00000000-0000-4000-8000-000000000000`, tus("alice")],
      ["GET", at.toUpperCase().replace("/_NOVA/V1/MEDIA/UPLOADS", BASE), tus("alice")],
      ["DELETE", `${BASE}/not-a-uuid`, tus("alice")],
    ];
    for (const [method, where, headers, body] of cases) {
      const r = await fetch(`${base}${where}`, {
        method,
        headers,
        ...(body ? { body: new Uint8Array(body) } : {}),
      });
      expect(
        [method, where.slice(-8), (r.status >= 400 && r.status < 500) || r.status === 501],
        JSON.stringify(headers),
      ).toEqual([method, where.slice(-8), true]);
      if (method !== "HEAD")
        expect(typeof ((await r.json()) as { errcode?: unknown }).errcode).toBe("string");
    }
    expect((await session(at))?.received_bytes).toBe(0);
  });
  it("keeps a completed session's chunks when storing fails, and retries on the next look", async () => {
    const bytes = randomBytes(2000);
    const at = await create(bytes.length);
    library.failNext = new MatrixError(403, "M_FORBIDDEN", "Quota exceeded");
    const last = await patch(at, 0, bytes);
    expect([last.status, ((await last.json()) as { errcode: string }).errcode]).toEqual([403, "M_FORBIDDEN"]);
    const id = at.split("/").pop()!;
    expect(await blobs.list(`chunks/${id}/`)).toEqual([`chunks/${id}/0`]);
    const get = await fetch(`${base}${at}`, { headers: { Authorization: "Bearer alice" } });
    const body = (await get.json()) as { content_uri: string; offset: number };
    expect(body.offset).toBe(2000);
    expect(sha((await library.bytes(body.content_uri.split("/").pop()!))!)).toBe(sha(bytes));
    expect(await blobs.list(`chunks/${id}/`)).toEqual([]);
  });

  it("lets one of two racing PATCHes at the same offset in, and the other gets 409", async () => {
    const at = await create(100);
    const statuses = (
      await Promise.all([patch(at, 0, Buffer.alloc(60, 1)), patch(at, 0, Buffer.alloc(60, 2))])
    )
      .map((r) => r.status)
      .sort();
    expect(statuses).toEqual([204, 409]);
    expect((await session(at))?.received_bytes).toBe(60);
    const chunks = await db
      .selectFrom("upload_chunks")
      .selectAll()
      .where("session_id", "=", at.split("/").pop()!)
      .execute();
    expect(chunks.map((c) => [c.part, c.bytes])).toEqual([[0, 60]]);
  });
  it("advances the offset by compare-and-set, whatever process writes (no tus lock)", async () => {
    const at = await create(100);
    const id = at.split("/").pop()!;
    const repo = new SessionsRepository(db);
    const puts: number[] = [];
    const write = (fill: number) =>
      repo.appendChunk(id, 0, { bytes: 60, sha256: String(fill) }, Date.now(), async (part) => {
        puts.push(part);
      });
    const results = (await Promise.all([write(1), write(2)])).sort();
    expect(results).toEqual([60, null]);
    expect(puts).toEqual([0]);
    expect(await repo.appendChunk(id, 60, { bytes: 41, sha256: "x" }, Date.now(), async () => {})).toBeNull();
    expect(await repo.appendChunk(id, 60, { bytes: 40, sha256: "y" }, Date.now(), async () => {})).toBe(100);
  });
});
