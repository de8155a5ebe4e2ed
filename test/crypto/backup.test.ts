import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestServer, type TestServer } from "../helpers/server.ts";

const RK = "/_matrix/client/v3/room_keys";
const ALG = "m.megolm_backup.v1.curve25519-aes-sha2";
const ROOM = "!room:localhost";

function session(first: number, forwarded: number, verified: boolean, tag = "x") {
  return {
    first_message_index: first,
    forwarded_count: forwarded,
    is_verified: verified,
    session_data: { ephemeral: `eph${tag}`, ciphertext: `ct${tag}`, mac: `mac${tag}` },
  };
}

describe("key backup", () => {
  let s: TestServer;
  let token: string;
  beforeAll(async () => {
    s = await startTestServer();
    token = (await s.register()).accessToken;
  });
  afterAll(async () => {
    await s.close();
  });

  const call = (method: string, path: string, body?: unknown) => s.call(method, path, { token, body });
  const create = async () =>
    (
      await call("POST", `${RK}/version`, {
        algorithm: ALG,
        auth_data: { public_key: "abc", signatures: {} },
      })
    ).body.version as string;

  it("answers 404 M_NOT_FOUND when there is no backup, then creates, reads and updates versions", async () => {
    const none = await call("GET", `${RK}/version`);
    expect([none.status, none.body.errcode]).toEqual([404, "M_NOT_FOUND"]);
    const v = await create();
    const info = await call("GET", `${RK}/version`);
    expect(info.body).toEqual({
      algorithm: ALG,
      auth_data: { public_key: "abc", signatures: {} },
      count: 0,
      etag: expect.any(String),
      version: v,
    });
    expect((await call("GET", `${RK}/version/${v}`)).body.version).toBe(v);
    const upd = await call("PUT", `${RK}/version/${v}`, {
      algorithm: ALG,
      auth_data: { public_key: "def" },
      version: v,
    });
    expect(upd.status).toBe(200);
    expect((await call("GET", `${RK}/version/${v}`)).body.auth_data).toEqual({ public_key: "def" });
    const algo = await call("PUT", `${RK}/version/${v}`, { algorithm: "other", auth_data: {} });
    expect([algo.status, algo.body.errcode]).toEqual([400, "M_INVALID_PARAM"]);
    const mismatch = await call("PUT", `${RK}/version/${v}`, {
      algorithm: ALG,
      auth_data: {},
      version: "999",
    });
    expect([mismatch.status, mismatch.body.errcode]).toEqual([400, "M_INVALID_PARAM"]);
    expect((await call("GET", `${RK}/version/424242`)).status).toBe(404);
  });

  it("keeps an auth_data given as a string, as Synapse does (sytest 07-backup), and refuses other shapes", async () => {
    const made = await call("POST", `${RK}/version`, { algorithm: ALG, auth_data: "anopaquestring" });
    expect(made.status).toBe(200);
    const v = made.body.version as string;
    expect((await call("GET", `${RK}/version/${v}`)).body.auth_data).toBe("anopaquestring");
    const upd = await call("PUT", `${RK}/version/${v}`, { algorithm: ALG, auth_data: "another" });
    expect(upd.status).toBe(200);
    expect((await call("GET", `${RK}/version`)).body).toMatchObject({ version: v, auth_data: "another" });
    const bad = await call("POST", `${RK}/version`, { algorithm: ALG, auth_data: 5 });
    expect([bad.status, bad.body.errcode]).toEqual([400, "M_BAD_JSON"]);
  });

  it("replaces a stored session only by the spec order, and the etag moves only on change", async () => {
    const v = await create();
    const put = (d: ReturnType<typeof session>) => call("PUT", `${RK}/keys/${ROOM}/s1?version=${v}`, d);
    const first = await put(session(5, 1, false, "a"));
    expect(first.body).toEqual({ etag: expect.any(String), count: 1 });
    const e1 = first.body.etag;
    const get = async () => (await call("GET", `${RK}/keys/${ROOM}/s1?version=${v}`)).body;

    // Worse on every count: kept as is, etag unchanged.
    const worse = await put(session(9, 3, false, "b"));
    expect(worse.body).toEqual({ etag: e1, count: 1 });
    expect((await get()).session_data).toEqual(session(0, 0, false, "a").session_data);

    // Verified beats a lower index.
    const verified = await put(session(7, 2, true, "c"));
    expect(verified.body.etag).not.toBe(e1);
    expect((await get()).session_data).toEqual(session(0, 0, false, "c").session_data);

    // Unverified never replaces verified, even with index 0 (Synapse would).
    await put(session(0, 0, false, "d"));
    expect((await get()).session_data).toEqual(session(0, 0, false, "c").session_data);

    // Same verification: lower first_message_index wins, then lower forwarded_count.
    await put(session(3, 5, true, "e"));
    expect((await get()).first_message_index).toBe(3);
    await put(session(3, 1, true, "f"));
    expect((await get()).forwarded_count).toBe(1);
    const same = await put(session(3, 1, true, "g"));
    expect((await get()).session_data).toEqual(session(0, 0, false, "f").session_data);
    expect(same.body.count).toBe(1);
  });

  it("uploads many rooms at once, lists them, and deletes by session, room and all", async () => {
    const v = await create();
    const r = await call("PUT", `${RK}/keys?version=${v}`, {
      rooms: {
        [ROOM]: { sessions: { a: session(0, 0, true), b: session(1, 0, false) } },
        "!other:localhost": { sessions: { c: session(2, 0, false) } },
      },
    });
    expect(r.body.count).toBe(3);
    const all = await call("GET", `${RK}/keys?version=${v}`);
    expect(Object.keys((all.body.rooms as Record<string, unknown>) ?? {}).sort()).toEqual([
      "!other:localhost",
      ROOM,
    ]);
    const room = await call("GET", `${RK}/keys/${ROOM}?version=${v}`);
    expect(Object.keys(room.body.sessions as object).sort()).toEqual(["a", "b"]);
    expect((await call("GET", `${RK}/keys/!empty:localhost?version=${v}`)).body).toEqual({ sessions: {} });
    const missing = await call("GET", `${RK}/keys/${ROOM}/zzz?version=${v}`);
    expect([missing.status, missing.body.errcode]).toEqual([404, "M_NOT_FOUND"]);
    expect((await call("DELETE", `${RK}/keys/${ROOM}/a?version=${v}`)).body.count).toBe(2);
    expect((await call("DELETE", `${RK}/keys/${ROOM}?version=${v}`)).body.count).toBe(1);
    expect((await call("DELETE", `${RK}/keys?version=${v}`)).body.count).toBe(0);
    expect((await call("GET", `${RK}/keys?version=${v}`)).body).toEqual({ rooms: {} });
  });

  it("refuses uploads to a stale version with M_WRONG_ROOM_KEYS_VERSION and stores nothing", async () => {
    const old = await create();
    await call("PUT", `${RK}/keys/${ROOM}/kept?version=${old}`, session(0, 0, true));
    const current = await create();
    const stale = await call("PUT", `${RK}/keys/${ROOM}/new?version=${old}`, session(0, 0, true));
    expect(stale.status).toBe(403);
    expect(stale.body).toMatchObject({ errcode: "M_WRONG_ROOM_KEYS_VERSION", current_version: current });
    const unknown = await call("PUT", `${RK}/keys/${ROOM}/new?version=987654`, session(0, 0, true));
    expect([unknown.status, unknown.body.errcode]).toEqual([404, "M_NOT_FOUND"]);
    const noVersion = await call("PUT", `${RK}/keys/${ROOM}/new`, session(0, 0, true));
    expect(noVersion.status).toBe(404);
    // Old versions stay readable; nothing new went anywhere.
    const oldKeys = await call("GET", `${RK}/keys?version=${old}`);
    expect(Object.keys((oldKeys.body.rooms as Record<string, { sessions: object }>)[ROOM]!.sessions)).toEqual(
      ["kept"],
    );
    expect((await call("GET", `${RK}/version/${current}`)).body.count).toBe(0);
  });

  it("validates backup data", async () => {
    const v = await create();
    const bad = await call("PUT", `${RK}/keys/${ROOM}/s?version=${v}`, {
      ...session(0, 0, true),
      is_verified: "yes",
    });
    expect([bad.status, bad.body.errcode]).toEqual([400, "M_BAD_JSON"]);
    const neg = await call("PUT", `${RK}/keys/${ROOM}/s?version=${v}`, {
      ...session(0, 0, true),
      first_message_index: -1,
    });
    expect(neg.status).toBe(400);
    expect((await call("GET", `${RK}/version/${v}`)).body.count).toBe(0);
  });

  it("deletes versions: the latest falls back to an older one, a second delete is fine, unknown is 404", async () => {
    const older = await create();
    const newer = await create();
    expect((await call("GET", `${RK}/version`)).body.version).toBe(newer);
    expect((await call("DELETE", `${RK}/version/${newer}`)).status).toBe(200);
    expect((await call("DELETE", `${RK}/version/${newer}`)).status).toBe(200);
    expect((await call("GET", `${RK}/version/${newer}`)).status).toBe(404);
    expect((await call("GET", `${RK}/version`)).body.version).toBe(older);
    expect((await call("DELETE", `${RK}/version/55555555`)).status).toBe(404);
    // Another user's version does not exist for this user.
    const other = await s.register();
    const theirs = await s.call("DELETE", `${RK}/version/${older}`, { token: other.accessToken });
    expect(theirs.status).toBe(404);
  });
});
