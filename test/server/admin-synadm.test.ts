import { execFile, execFileSync } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { http, upload } from "../media/helpers.ts";

/** Debian's synadm (.ci/synadm.sh installs it), the Synapse admin client Nova must satisfy. */
function synadmInstalled(): boolean {
  try {
    execFileSync("synadm", ["--help"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}
const installed = synadmInstalled();
if (!installed) console.log("skipping synadm tests: synadm is not installed (bash .ci/synadm.sh)");

describe.skipIf(!installed)("synadm against Nova's admin API", () => {
  let s: TestServer;
  let dir: string;
  let config: string;

  beforeAll(async () => {
    s = await startTestServer();
    const r = await s.identity.register({ localpart: "root", password: "pw pw pw pw", admin: true });
    dir = await mkdtemp(path.join(tmpdir(), "nova-synadm-"));
    config = path.join(dir, "synadm.yaml");
    await writeFile(
      config,
      [
        "user: root",
        `token: ${(r as { accessToken: string }).accessToken}`,
        `base_url: ${s.baseUrl}`,
        "admin_path: /_synapse/admin",
        "matrix_path: /_matrix",
        "timeout: 30",
        "ssl_verify: true",
        "format: json",
        "server_discovery: dns",
        `homeserver: ${s.ctx.config.serverName}`,
        "",
      ].join("\n"),
    );
  });
  afterAll(async () => {
    await s.close();
    await rm(dir, { recursive: true, force: true });
  });

  const synadm = (...args: string[]) =>
    new Promise<{ code: number; out: string; err: string }>((resolve) => {
      execFile(
        "synadm",
        ["--batch", "-c", config, "-o", "json", ...args],
        { timeout: 60_000 },
        (e, out, err) => resolve({ code: e ? (typeof e.code === "number" ? e.code : 1) : 0, out, err }),
      );
    });
  const json = (out: string) => JSON.parse(out) as Record<string, unknown>;

  it("lists users, shows one, deactivates one", async () => {
    const u = await s.register("mallory");
    const list = await synadm("user", "list");
    expect(list.err).toBe("");
    const names = (json(list.out).users as { name: string }[]).map((x) => x.name);
    expect(names).toEqual(expect.arrayContaining(["@root:localhost", u.userId]));
    const details = await synadm("user", "details", u.userId);
    expect(json(details.out)).toMatchObject({ name: u.userId, admin: false, deactivated: false });
    const deactivated = await synadm("user", "deactivate", u.userId);
    expect(deactivated.code).toBe(0);
    expect((await s.identity.getUser(u.userId))!.deactivated).toBe(true);
  }, 120_000);

  it("lists rooms and shows one's details", async () => {
    const u = await s.register();
    const room = await s.call("POST", "/_matrix/client/v3/createRoom", {
      token: u.accessToken,
      body: { name: "Synadm room" },
    });
    const list = await synadm("room", "list");
    const rooms = json(list.out).rooms as { room_id: string; name: string }[];
    expect(rooms).toEqual([expect.objectContaining({ room_id: room.body.room_id, name: "Synadm room" })]);
    const details = await synadm("room", "details", room.body.room_id as string);
    expect(json(details.out)).toMatchObject({ room_id: room.body.room_id, joined_members: 1 });
  }, 120_000);

  it("lists, quarantines, protects and deletes media", async () => {
    const u = await s.register("uploader");
    const put = (text: string) => upload(s, u.accessToken, Buffer.from(text), { filename: `${text}.txt` });
    const a = await put("first");
    const b = await put("second");
    const c = await put("third");
    const download = async (id: string) =>
      (await http(s, "GET", `/_matrix/client/v1/media/download/localhost/${id}`, { token: u.accessToken }))
        .status;

    const list = await synadm("media", "list", "-u", u.userId);
    expect(list.err).toBe("");
    const listed = json(list.out);
    expect(listed.total).toBe(3);
    const ids = (listed.media as { media_id: string }[]).map((m) => m.media_id);
    expect(ids.sort()).toEqual([a.mediaId, b.mediaId, c.mediaId].sort());
    expect(json((await synadm("user", "media", u.userId)).out).total).toBe(3);

    const quarantined = await synadm("media", "quarantine", "-i", a.mediaId);
    expect(quarantined.code).toBe(0);
    expect(await download(a.mediaId)).toBe(404);

    expect((await synadm("media", "protect", b.mediaId)).code).toBe(0);
    const byUser = await synadm("media", "quarantine", "-u", u.userId);
    expect(json(byUser.out)).toEqual({ num_quarantined: 1 });
    expect(await download(b.mediaId)).toBe(200);
    expect(await download(c.mediaId)).toBe(404);

    const deleted = await synadm("media", "delete", "-i", b.mediaId);
    expect(json(deleted.out)).toEqual({ deleted_media: [b.mediaId], total: 1 });
    expect(await download(b.mediaId)).toBe(404);
    const old = await synadm("media", "delete", "-t", String(Date.now()));
    expect(old.code).toBe(0);
    // What is left is quarantined (a, c), which a delete by age keeps, as Synapse does.
    expect(json(old.out)).toEqual({ deleted_media: [], total: 0 });
  }, 120_000);
});
