import { createHash } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MediaAuditRepository } from "../../companion-services/media/admin/audit.repository.ts";
import type { Media } from "../../companion-services/media/index.ts";
import { contentKey } from "../../companion-services/media/storage/blob-store.ts";
import type { MediaTables } from "../../companion-services/media/tables.ts";
import { startAdminServer } from "../helpers/admin.ts";
import type { TestServer } from "../helpers/server.ts";
import { http, png, upload } from "../media/helpers.ts";

const A = "/_synapse/admin";
const enc = encodeURIComponent;

describe("admin API: media (served by the media service)", () => {
  let s: TestServer;
  let media: Media;
  let admin: string;
  let adminId: string;
  let alice: { userId: string; accessToken: string };
  let bob: { userId: string; accessToken: string };

  beforeAll(async () => {
    ({ s, admin, adminId } = await startAdminServer());
    if (!s.media) throw new Error("npm start runs media in-process");
    media = s.media;
    alice = await s.register("alice");
    bob = await s.register("bob");
  });
  afterAll(async () => {
    await s.close();
  });

  const call = (method: string, path: string, token = admin) =>
    s.call(method, A + path, method === "GET" ? { token } : { token, body: {} });
  const put = (bytes: Buffer, name: string, token = alice.accessToken) =>
    upload(s, token, bytes, { contentType: "application/octet-stream", filename: name });
  const download = (id: string, token = bob.accessToken) =>
    http(s, "GET", `/_matrix/client/v1/media/download/localhost/${id}`, { token });
  const thumbnail = (id: string) =>
    http(s, "GET", `/_matrix/client/v1/media/thumbnail/localhost/${id}?width=32&height=32&method=scale`, {
      token: bob.accessToken,
    });

  it("refuses non-admins with 403 M_FORBIDDEN and records every call in media's audit log", async () => {
    const refused = await call("GET", `/v1/users/${enc(alice.userId)}/media`, alice.accessToken);
    expect(refused.status).toBe(403);
    expect(refused.body.errcode).toBe("M_FORBIDDEN");
    expect((await s.call("GET", `${A}/v1/users/${enc(alice.userId)}/media`)).status).toBe(401);
    expect((await call("GET", `/v1/users/${enc(alice.userId)}/media`)).status).toBe(200);
    const audit = new MediaAuditRepository(s.ctx.databases.get<MediaTables>("media").db);
    const [ok, forbidden] = await audit.recent(2);
    expect(ok).toMatchObject({
      userId: adminId,
      method: "GET",
      path: `${A}/v1/users/${enc(alice.userId)}/media`,
      status: 200,
    });
    expect(forbidden).toMatchObject({ userId: alice.userId, status: 403 });
  });

  it("lists a user's media with Synapse's fields, order and paging", async () => {
    const u = await s.register("lister");
    // A few ms apart, so created_ts (the default order) has no ties.
    const a = await put(Buffer.from("aaaa"), "a.bin", u.accessToken);
    await sleep(3);
    const b = await put(Buffer.from("bbbbbbbb"), "b.bin", u.accessToken);
    await sleep(3);
    const c = await put(Buffer.from("cc"), "c.bin", u.accessToken);
    const first = await call("GET", `/v1/users/${enc(u.userId)}/media?limit=2`);
    expect(first.status).toBe(200);
    expect(first.body.total).toBe(3);
    expect(first.body.next_token).toBe(2);
    const items = first.body.media as Record<string, unknown>[];
    expect(items.map((m) => m.media_id)).toEqual([a.mediaId, b.mediaId]);
    expect(items[0]).toEqual({
      media_id: a.mediaId,
      media_type: "application/octet-stream",
      media_length: 4,
      upload_name: "a.bin",
      created_ts: expect.any(Number),
      last_access_ts: null,
      quarantined_by: null,
      safe_from_quarantine: false,
    });
    const rest = await call("GET", `/v1/users/${enc(u.userId)}/media?from=2&limit=2`);
    expect((rest.body.media as { media_id: string }[]).map((m) => m.media_id)).toEqual([c.mediaId]);
    expect(rest.body.next_token).toBeUndefined();
    const bySize = await call("GET", `/v1/users/${enc(u.userId)}/media?order_by=media_length&dir=b`);
    expect((bySize.body.media as { media_id: string }[]).map((m) => m.media_id)).toEqual([
      b.mediaId,
      a.mediaId,
      c.mediaId,
    ]);
  });

  it("answers bad input with 400 and unknown users or media with 404", async () => {
    const path = `/v1/users/${enc(alice.userId)}/media`;
    for (const q of ["?order_by=size", "?dir=x", "?limit=-1", "?from=abc"]) {
      const r = await call("GET", path + q);
      expect(r.status, q).toBe(400);
      expect(r.body.errcode).toBe("M_INVALID_PARAM");
    }
    expect((await call("GET", `/v1/users/${enc("@x:elsewhere.org")}/media`)).status).toBe(400);
    expect((await call("GET", `/v1/users/not-a-user/media`)).status).toBe(400);
    const unknown = await call("GET", `/v1/users/${enc("@nobody:localhost")}/media`);
    expect(unknown.status).toBe(404);
    expect(unknown.body.errcode).toBe("M_NOT_FOUND");
    expect((await call("GET", "/v1/media/localhost/nosuchmedia")).status).toBe(404);
    expect((await call("GET", "/v1/media/localhost/bad%20id")).status).toBe(400);
    expect((await call("POST", "/v1/media/quarantine/localhost/nosuchmedia")).status).toBe(404);
    expect((await call("DELETE", "/v1/media/elsewhere.org/abc")).status).toBe(400);
    const missing = await call("POST", "/v1/media/delete");
    expect(missing.status).toBe(400);
    expect(missing.body.errcode).toBe("M_MISSING_PARAM");
    expect((await call("POST", "/v1/media/delete?before_ts=1234")).status).toBe(400);
    expect((await call("POST", `/v1/media/delete?before_ts=${Date.now()}&keep_profiles=maybe`)).status).toBe(
      400,
    );
    expect((await call("POST", `/v1/media/elsewhere.org/delete?before_ts=${Date.now()}`)).status).toBe(400);
  });

  it("describes one media", async () => {
    const bytes = Buffer.from("info please");
    const u = await put(bytes, "info.txt");
    const r = await call("GET", `/v1/media/localhost/${u.mediaId}`);
    expect(r.status).toBe(200);
    expect(r.body.media_info).toMatchObject({
      media_origin: "localhost",
      user_id: alice.userId,
      media_id: u.mediaId,
      media_length: bytes.length,
      upload_name: "info.txt",
      quarantined_by: null,
      safe_from_quarantine: false,
      sha256: createHash("sha256").update(bytes).digest("hex"),
    });
  });

  it("quarantined media is 404 on every download and thumbnail path until unquarantined", async () => {
    const u = await put(await png(64, 64), "q.png");
    expect((await download(u.mediaId)).status).toBe(200);
    const q = await call("POST", `/v1/media/quarantine/localhost/${u.mediaId}`);
    expect(q.status).toBe(200);
    expect(q.body).toEqual({});
    const r = await download(u.mediaId);
    expect(r.status).toBe(404);
    expect(r.json.errcode).toBe("M_NOT_FOUND");
    expect((await download(u.mediaId, alice.accessToken)).status).toBe(404);
    expect((await thumbnail(u.mediaId)).status).toBe(404);
    expect((await http(s, "GET", `/_matrix/media/v3/download/localhost/${u.mediaId}`)).status).toBe(404);
    const info = await call("GET", `/v1/media/localhost/${u.mediaId}`);
    expect((info.body.media_info as { quarantined_by: string }).quarantined_by).toBe(adminId);
    expect((await call("POST", `/v1/media/unquarantine/localhost/${u.mediaId}`)).status).toBe(200);
    expect((await download(u.mediaId)).status).toBe(200);
  });

  it("protected media is never quarantined, alone or with its uploader's media", async () => {
    const u = await s.register("protected");
    const kept = await put(Buffer.from("sticker"), "sticker.bin", u.accessToken);
    const other = await put(Buffer.from("other"), "other.bin", u.accessToken);
    expect((await call("POST", `/v1/media/protect/${kept.mediaId}`)).status).toBe(200);
    expect((await call("POST", `/v1/media/quarantine/localhost/${kept.mediaId}`)).status).toBe(200);
    expect((await download(kept.mediaId)).status).toBe(200);
    const all = await call("POST", `/v1/user/${enc(u.userId)}/media/quarantine`);
    expect(all.status).toBe(200);
    expect(all.body).toEqual({ num_quarantined: 1 });
    expect((await download(other.mediaId)).status).toBe(404);
    expect((await download(kept.mediaId)).status).toBe(200);
    expect((await call("POST", `/v1/media/unprotect/${kept.mediaId}`)).status).toBe(200);
    expect((await call("POST", `/v1/media/quarantine/localhost/${kept.mediaId}`)).status).toBe(200);
    expect((await download(kept.mediaId)).status).toBe(404);
  });

  it("deleting media removes its row, its bytes and its thumbnails", async () => {
    const bytes = await png(800, 600);
    const u = await put(bytes, "big.png");
    await media.service.idle();
    const key = contentKey(createHash("sha256").update(bytes).digest("hex"));
    expect(await media.blobs.get(key)).not.toBeNull();
    expect((await media.blobs.list(`thumbnails/${u.mediaId}`)).length).toBeGreaterThan(0);
    const r = await call("DELETE", `/v1/media/localhost/${u.mediaId}`);
    expect(r.status).toBe(200);
    expect(r.body).toEqual({ deleted_media: [u.mediaId], total: 1 });
    expect(await media.blobs.get(key)).toBeNull();
    expect(await media.blobs.list(`thumbnails/${u.mediaId}`)).toEqual([]);
    expect((await download(u.mediaId)).status).toBe(404);
    expect((await call("GET", `/v1/media/localhost/${u.mediaId}`)).status).toBe(404);
    expect((await call("DELETE", `/v1/media/localhost/${u.mediaId}`)).status).toBe(404);
  });

  it("keeps bytes another upload still shares", async () => {
    const bytes = Buffer.from("same bytes twice");
    const one = await put(bytes, "one.bin");
    const two = await put(bytes, "two.bin", bob.accessToken);
    expect((await call("DELETE", `/v1/media/localhost/${one.mediaId}`)).status).toBe(200);
    const r = await download(two.mediaId);
    expect(r.status).toBe(200);
    expect(r.bytes.equals(bytes)).toBe(true);
  });

  it("deletes a user's media with DELETE users/{userId}/media", async () => {
    const u = await s.register("leaving");
    const a = await put(Buffer.from("leaving a"), "a", u.accessToken);
    const b = await put(Buffer.from("leaving b"), "b", u.accessToken);
    const r = await call("DELETE", `/v1/users/${enc(u.userId)}/media`);
    expect(r.status).toBe(200);
    expect(r.body.total).toBe(2);
    expect(new Set(r.body.deleted_media as string[])).toEqual(new Set([a.mediaId, b.mediaId]));
    const after = await call("GET", `/v1/users/${enc(u.userId)}/media`);
    expect(after.body).toEqual({ media: [], total: 0 });
  });

  it("deletes media unused since before_ts, bigger than size_gt, keeping avatars unless told not to", async () => {
    const u = await s.register("old");
    const old = await put(Buffer.from("old old old old"), "old", u.accessToken);
    const tiny = await put(Buffer.from("o"), "tiny", u.accessToken);
    const avatar = await put(Buffer.from("my face, long ago"), "face", u.accessToken);
    const read = await put(Buffer.from("old but read recently"), "read", u.accessToken);
    const set = await s.call("PUT", `/_matrix/client/v3/profile/${enc(u.userId)}/avatar_url`, {
      token: u.accessToken,
      body: { avatar_url: avatar.mxc },
    });
    expect(set.status).toBe(200);
    await sleep(20);
    const before = Date.now();
    await sleep(20);
    // Downloads stamp last_access_ts (batched; idle() writes the batch): `read` was used since.
    expect((await download(read.mediaId)).status).toBe(200);
    const fresh = await put(Buffer.from("new new new new"), "new", u.accessToken);
    await media.service.idle();
    const info = await call("GET", `/v1/media/localhost/${read.mediaId}`);
    expect((info.body.media_info as { last_access_ts: number }).last_access_ts).toBeGreaterThanOrEqual(
      before,
    );
    const r = await call("POST", `/v1/media/delete?before_ts=${before}&size_gt=1`);
    expect(r.status).toBe(200);
    // before_ts is server-wide: the earlier tests' media goes too; of this user's, only `old`.
    const mine = new Set([old, tiny, avatar, read, fresh].map((m) => m.mediaId));
    const deleted = (r.body.deleted_media as string[]).filter((id) => mine.has(id));
    expect(deleted).toEqual([old.mediaId]);
    expect(r.body.total).toBe((r.body.deleted_media as string[]).length);
    for (const kept of [tiny, avatar, read, fresh]) expect((await download(kept.mediaId)).status).toBe(200);
    const legacy = await call("POST", `/v1/media/localhost/delete?before_ts=${before}&keep_profiles=false`);
    expect(legacy.status).toBe(200);
    const legacyMine = (legacy.body.deleted_media as string[]).filter((id) => mine.has(id));
    expect(new Set(legacyMine)).toEqual(new Set([tiny.mediaId, avatar.mediaId]));
    expect((await download(avatar.mediaId)).status).toBe(404);
  });
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
