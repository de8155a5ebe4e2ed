import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { TestDevice } from "./olm-keys.ts";

const V3 = "/_matrix/client/v3";
const PASSWORD = "correct horse battery staple";
type Account = { userId: string; deviceId: string; accessToken: string };
type DeviceLists = { changed: string[]; left: string[] };

describe("device lists in /sync and /keys/changes", () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer();
  });
  afterAll(async () => {
    await s.close();
  });

  async function login(userId: string): Promise<Account> {
    const r = await s.call("POST", `${V3}/login`, {
      body: { type: "m.login.password", identifier: { type: "m.id.user", user: userId }, password: PASSWORD },
    });
    expect(r.status).toBe(200);
    return { userId, deviceId: r.body.device_id as string, accessToken: r.body.access_token as string };
  }

  async function sync(a: Account, since?: string, timeout = 0) {
    const q = new URLSearchParams({ timeout: String(timeout) });
    if (since) q.set("since", since);
    const r = await s.call("GET", `${V3}/sync?${q}`, { token: a.accessToken });
    expect(r.status).toBe(200);
    const lists = (r.body.device_lists as DeviceLists | undefined) ?? { changed: [], left: [] };
    return { next: r.body.next_batch as string, lists, body: r.body };
  }

  async function sharedRoom(...members: Account[]): Promise<string> {
    const [owner, ...rest] = members;
    const r = await s.call("POST", `${V3}/createRoom`, {
      token: owner!.accessToken,
      body: { preset: "public_chat" },
    });
    expect(r.status).toBe(200);
    const roomId = r.body.room_id as string;
    for (const m of rest) {
      expect(
        (await s.call("POST", `${V3}/join/${encodeURIComponent(roomId)}`, { token: m.accessToken, body: {} }))
          .status,
      ).toBe(200);
    }
    return roomId;
  }

  it("reports a new device and a deleted device to everyone sharing a room, within one sync", async () => {
    const alice = await s.register();
    const bob = await s.register();
    const stranger = await s.register();
    await sharedRoom(alice, bob);
    const bobSince = (await sync(bob)).next;
    const aliceSince = (await sync(alice)).next;
    const strangerSince = (await sync(stranger)).next;

    const alice2 = await login(alice.userId);
    const afterLogin = await sync(bob, bobSince);
    expect(afterLogin.lists.changed).toContain(alice.userId);
    expect(afterLogin.lists.left).toEqual([]);
    // Alice's other device learns about it too; a user sharing no room does not.
    expect((await sync(alice, aliceSince)).lists.changed).toContain(alice.userId);
    expect((await sync(stranger, strangerSince)).lists.changed).not.toContain(alice.userId);

    const del = (auth?: Record<string, unknown>) =>
      s.call("DELETE", `${V3}/devices/${alice2.deviceId}`, {
        token: alice.accessToken,
        body: auth ? { auth } : {},
      });
    const challenge = await del();
    expect(challenge.status).toBe(401);
    const done = await del({
      type: "m.login.password",
      session: challenge.body.session,
      identifier: { type: "m.id.user", user: alice.userId },
      password: PASSWORD,
    });
    expect(done.status).toBe(200);
    const afterDelete = await sync(bob, afterLogin.next);
    expect(afterDelete.lists.changed).toContain(alice.userId);
  });

  it("reports uploaded keys and wakes a long-polling sync for them", async () => {
    const alice = await s.register();
    const bob = await s.register();
    await sharedRoom(alice, bob);
    const since = (await sync(bob)).next;
    const polling = sync(bob, since, 10_000);
    await new Promise((r) => setTimeout(r, 200));
    const t0 = Date.now();
    const dev = new TestDevice(alice.userId, alice.deviceId);
    await s.call("POST", `${V3}/keys/upload`, {
      token: alice.accessToken,
      body: { device_keys: dev.deviceKeys() },
    });
    const got = await polling;
    expect(got.lists.changed).toContain(alice.userId);
    expect(Date.now() - t0).toBeLessThan(5_000);
    // An identical re-upload is no change.
    await s.call("POST", `${V3}/keys/upload`, {
      token: alice.accessToken,
      body: { device_keys: dev.deviceKeys() },
    });
    expect((await sync(bob, got.next)).lists.changed).not.toContain(alice.userId);
  });

  it("lists joiners and invitees as changed, and those who no longer share a room as left", async () => {
    const alice = await s.register();
    const bob = await s.register();
    const carol = await s.register();
    const dave = await s.register();
    const roomId = await sharedRoom(alice, bob);
    const bobSince = (await sync(bob)).next;
    const carolSince = (await sync(carol)).next;

    await s.call("POST", `${V3}/join/${encodeURIComponent(roomId)}`, { token: carol.accessToken, body: {} });
    const bobSeesJoin = await sync(bob, bobSince);
    expect(bobSeesJoin.lists.changed).toContain(carol.userId);
    const carolSeesMembers = await sync(carol, carolSince);
    expect(carolSeesMembers.lists.changed).toEqual(expect.arrayContaining([alice.userId, bob.userId]));

    await s.call("POST", `${V3}/rooms/${encodeURIComponent(roomId)}/invite`, {
      token: alice.accessToken,
      body: { user_id: dave.userId },
    });
    const bobSeesInvite = await sync(bob, bobSeesJoin.next);
    expect(bobSeesInvite.lists.changed).toContain(dave.userId);

    await s.call("POST", `${V3}/rooms/${encodeURIComponent(roomId)}/leave`, {
      token: carol.accessToken,
      body: {},
    });
    const bobSeesLeave = await sync(bob, bobSeesInvite.next);
    expect(bobSeesLeave.lists.left).toContain(carol.userId);
    expect(bobSeesLeave.lists.changed).not.toContain(carol.userId);
    const carolLeft = await sync(carol, carolSeesMembers.next);
    expect(carolLeft.lists.left).toEqual(expect.arrayContaining([alice.userId, bob.userId]));

    // /keys/changes answers the same from sync tokens.
    const changes = await s.call("GET", `${V3}/keys/changes?from=${bobSince}&to=${bobSeesLeave.next}`, {
      token: bob.accessToken,
    });
    expect(changes.status).toBe(200);
    expect(changes.body.left).toContain(carol.userId);
    expect(changes.body.changed).toContain(dave.userId);
    const bad = await s.call("GET", `${V3}/keys/changes?from=garbage`, { token: bob.accessToken });
    expect([bad.status, bad.body.errcode]).toEqual([400, "M_INVALID_PARAM"]);
    const missing = await s.call("GET", `${V3}/keys/changes`, { token: bob.accessToken });
    expect([missing.status, missing.body.errcode]).toEqual([400, "M_MISSING_PARAM"]);
  });

  it("never lists as left someone who still shares another room", async () => {
    const alice = await s.register();
    const bob = await s.register();
    const r1 = await sharedRoom(alice, bob);
    await sharedRoom(alice, bob);
    const since = (await sync(bob)).next;
    await s.call("POST", `${V3}/rooms/${encodeURIComponent(r1)}/leave`, {
      token: alice.accessToken,
      body: {},
    });
    expect((await sync(bob, since)).lists.left).not.toContain(alice.userId);
  });

  it("carries key counts and unused fallback key types in every response", async () => {
    const alice = await s.register();
    const initial = await sync(alice);
    expect(initial.body.device_one_time_keys_count).toEqual({ signed_curve25519: 0 });
    expect(initial.body.device_unused_fallback_key_types).toEqual([]);
    const dev = new TestDevice(alice.userId, alice.deviceId);
    await s.call("POST", `${V3}/keys/upload`, {
      token: alice.accessToken,
      body: {
        device_keys: dev.deviceKeys(),
        one_time_keys: dev.oneTimeKeys(3),
        fallback_keys: dev.fallbackKey(),
      },
    });
    const next = await sync(alice, initial.next);
    expect(next.body.device_one_time_keys_count).toEqual({ signed_curve25519: 3 });
    expect(next.body.device_unused_fallback_key_types).toEqual(["signed_curve25519"]);
    const empty = await sync(alice, next.next);
    expect(empty.body.device_one_time_keys_count).toEqual({ signed_curve25519: 3 });
  });
});
