import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { TestDevice } from "./olm-keys.ts";

const V3 = "/_matrix/client/v3";
const DD = "/_matrix/client/unstable/org.matrix.msc3814.v1/dehydrated_device";

describe("dehydrated devices (MSC3814)", () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer();
  });
  afterAll(async () => {
    await s.close();
  });

  function dehydratedBody(dev: TestDevice, pickle = "opaque-pickle") {
    return {
      device_id: dev.deviceId,
      device_data: { algorithm: "org.matrix.msc3814.v1.olm", device_pickle: pickle, nonce: "n" },
      initial_device_display_name: "Dehydrated device",
      device_keys: dev.deviceKeys({ dehydrated: true }),
      one_time_keys: dev.oneTimeKeys(2),
      fallback_keys: dev.fallbackKey(),
    };
  }
  const queryDevices = async (token: string, userId: string) => {
    const q = await s.call("POST", `${V3}/keys/query`, { token, body: { device_keys: { [userId]: [] } } });
    return (q.body.device_keys as Record<string, Record<string, Record<string, unknown>>>)[userId]!;
  };

  it("stores a dehydrated device whose keys others can query and claim, and replaces it atomically", async () => {
    const alice = await s.register();
    const bob = await s.register();
    const probe = await s.call("GET", DD, { token: alice.accessToken });
    expect([probe.status, probe.body.errcode]).toEqual([404, "M_NOT_FOUND"]);

    const dev = new TestDevice(alice.userId, "DEHYDRATED1");
    const put = await s.call("PUT", DD, { token: alice.accessToken, body: dehydratedBody(dev) });
    expect(put.status).toBe(200);
    expect(put.body).toEqual({ device_id: "DEHYDRATED1" });
    const got = await s.call("GET", DD, { token: alice.accessToken });
    expect(got.body).toEqual({
      device_id: "DEHYDRATED1",
      device_data: { algorithm: "org.matrix.msc3814.v1.olm", device_pickle: "opaque-pickle", nonce: "n" },
    });

    const seen = await queryDevices(bob.accessToken, alice.userId);
    expect(seen.DEHYDRATED1).toMatchObject({
      dehydrated: true,
      unsigned: { device_display_name: "Dehydrated device" },
    });
    const claim = await s.call("POST", `${V3}/keys/claim`, {
      token: bob.accessToken,
      body: { one_time_keys: { [alice.userId]: { DEHYDRATED1: "signed_curve25519" } } },
    });
    expect(
      Object.keys(
        (claim.body.one_time_keys as Record<string, Record<string, object>>)[alice.userId]!.DEHYDRATED1!,
      ),
    ).toHaveLength(1);

    // To-device to all of alice's devices reaches it; reading does not consume.
    await s.call("PUT", `${V3}/sendToDevice/m.room.encrypted/t1`, {
      token: bob.accessToken,
      body: { messages: { [alice.userId]: { "*": { ciphertext: "for everyone" } } } },
    });
    const events = (from?: string) =>
      s.call("POST", `${DD}/DEHYDRATED1/events`, {
        token: alice.accessToken,
        body: from ? { next_batch: from } : {},
      });
    const page = await events();
    expect(page.body.events).toEqual([
      { sender: bob.userId, type: "m.room.encrypted", content: { ciphertext: "for everyone" } },
    ]);
    expect((await events()).body.events).toHaveLength(1);
    const end = await events(page.body.next_batch as string);
    expect(end.body.events).toEqual([]);
    const viaGet = await s.call("GET", `${DD}/DEHYDRATED1/events`, { token: alice.accessToken });
    expect(viaGet.body).toEqual({ events: page.body.events });
    const notMine = await s.call("POST", `${DD}/${alice.deviceId}/events`, {
      token: alice.accessToken,
      body: {},
    });
    expect([notMine.status, notMine.body.errcode]).toEqual([403, "M_FORBIDDEN"]);
    const bobs = await s.call("POST", `${DD}/DEHYDRATED1/events`, { token: bob.accessToken, body: {} });
    expect(bobs.status).toBe(403);

    // Replacing drops the old device with its keys and inbox.
    const dev2 = new TestDevice(alice.userId, "DEHYDRATED2");
    expect(
      (await s.call("PUT", DD, { token: alice.accessToken, body: dehydratedBody(dev2, "p2") })).status,
    ).toBe(200);
    const after = await queryDevices(bob.accessToken, alice.userId);
    expect(Object.keys(after)).not.toContain("DEHYDRATED1");
    expect(Object.keys(after)).toContain("DEHYDRATED2");
    const gone = await s.call("POST", `${DD}/DEHYDRATED1/events`, { token: alice.accessToken, body: {} });
    expect(gone.status).toBe(403);

    const del = await s.call("DELETE", DD, { token: alice.accessToken });
    expect(del.body).toEqual({ device_id: "DEHYDRATED2" });
    expect((await s.call("GET", DD, { token: alice.accessToken })).status).toBe(404);
    expect((await s.call("DELETE", DD, { token: alice.accessToken })).status).toBe(404);
    expect(Object.keys(await queryDevices(bob.accessToken, alice.userId))).not.toContain("DEHYDRATED2");
  });

  it("leaves exactly one dehydrated device after concurrent replacements", async () => {
    const alice = await s.register();
    const devs = Array.from({ length: 4 }, (_, i) => new TestDevice(alice.userId, `RACE${i}`));
    const puts = await Promise.all(
      devs.map((d) => s.call("PUT", DD, { token: alice.accessToken, body: dehydratedBody(d) })),
    );
    expect(puts.map((p) => p.status)).toEqual([200, 200, 200, 200]);
    const current = (await s.call("GET", DD, { token: alice.accessToken })).body.device_id as string;
    expect(Object.keys(await queryDevices(alice.accessToken, alice.userId))).toEqual([current]);
  });

  it("rejects bad dehydrated devices and stores nothing", async () => {
    const alice = await s.register();
    const dev = new TestDevice(alice.userId, "DEHYD");
    const body = dehydratedBody(dev);
    const forged = { ...body, device_keys: { ...body.device_keys, algorithms: ["tampered"] } };
    const r = await s.call("PUT", DD, { token: alice.accessToken, body: forged });
    expect([r.status, r.body.errcode]).toEqual([400, "M_INVALID_SIGNATURE"]);
    const noKeys = await s.call("PUT", DD, {
      token: alice.accessToken,
      body: { ...body, device_keys: undefined },
    });
    expect([noKeys.status, noKeys.body.errcode]).toEqual([400, "M_BAD_JSON"]);
    const clash = new TestDevice(alice.userId, alice.deviceId);
    const c = await s.call("PUT", DD, { token: alice.accessToken, body: dehydratedBody(clash) });
    expect([c.status, c.body.errcode]).toEqual([400, "M_INVALID_PARAM"]);
    expect((await s.call("GET", DD, { token: alice.accessToken })).status).toBe(404);
    expect(await queryDevices(alice.accessToken, alice.userId)).toEqual({});
  });
});
