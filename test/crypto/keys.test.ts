import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { SigningKey, TestDevice } from "./olm-keys.ts";

const V3 = "/_matrix/client/v3";
type Account = { userId: string; deviceId: string; accessToken: string };

describe("keys: upload, query, claim", () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer();
  });
  afterAll(async () => {
    await s.close();
  });

  async function withKeys(otks = 5, fallback = true): Promise<Account & { dev: TestDevice }> {
    const a = await s.register();
    const dev = new TestDevice(a.userId, a.deviceId);
    const r = await s.call("POST", `${V3}/keys/upload`, {
      token: a.accessToken,
      body: {
        device_keys: dev.deviceKeys(),
        one_time_keys: dev.oneTimeKeys(otks),
        ...(fallback ? { fallback_keys: dev.fallbackKey() } : {}),
      },
    });
    expect(r.status).toBe(200);
    expect(r.body.one_time_key_counts).toEqual({ signed_curve25519: otks });
    return { ...a, dev };
  }

  it("shows a renamed device's new display name to other users", async () => {
    const a = await withKeys(1);
    const b = await s.register();
    const put = await s.call("PUT", `${V3}/devices/${a.deviceId}`, {
      token: a.accessToken,
      body: { display_name: "Kitchen tablet" },
    });
    expect(put.status).toBe(200);
    const q = await s.call("POST", `${V3}/keys/query`, {
      token: b.accessToken,
      body: { device_keys: { [a.userId]: [a.deviceId] } },
    });
    const dk = (q.body.device_keys as Record<string, Record<string, Record<string, unknown>>>)[a.userId]!;
    expect(dk[a.deviceId]!.unsigned).toEqual({ device_display_name: "Kitchen tablet" });
  });

  it("reports signed_curve25519: 0 for a device without keys", async () => {
    const a = await s.register();
    const r = await s.call("POST", `${V3}/keys/upload`, { token: a.accessToken, body: {} });
    expect(r.status).toBe(200);
    expect(r.body).toEqual({ one_time_key_counts: { signed_curve25519: 0 } });
  });

  it("stores device keys verbatim and answers /keys/query with display name and failures", async () => {
    const a = await withKeys(3);
    const b = await s.register();
    const q = await s.call("POST", `${V3}/keys/query`, {
      token: b.accessToken,
      body: { device_keys: { [a.userId]: [], "@someone:remote.example": [], "@nobody:localhost": [] } },
    });
    expect(q.status).toBe(200);
    const dk = (q.body.device_keys as Record<string, Record<string, Record<string, unknown>>>)[a.userId]!;
    const mine = dk[a.deviceId]!;
    const { unsigned, ...rest } = mine;
    expect(rest).toEqual(a.dev.deviceKeys());
    expect(unsigned).toEqual({});
    expect(q.body.failures).toHaveProperty("remote.example");
    expect(q.body.device_keys).toHaveProperty("@nobody:localhost", {});
    // Asking for a device that does not exist leaves it out.
    const q2 = await s.call("POST", `${V3}/keys/query`, {
      token: b.accessToken,
      body: { device_keys: { [a.userId]: ["NOPE"] } },
    });
    expect(q2.body.device_keys).toEqual({ [a.userId]: {} });
  });

  it("accepts an identical re-upload (even re-signed) and rejects a different key under the same id", async () => {
    const a = await withKeys(0, false);
    const otks = a.dev.oneTimeKeys(2);
    const first = await s.call("POST", `${V3}/keys/upload`, {
      token: a.accessToken,
      body: { one_time_keys: otks },
    });
    expect(first.body.one_time_key_counts).toEqual({ signed_curve25519: 2 });
    const again = await s.call("POST", `${V3}/keys/upload`, {
      token: a.accessToken,
      body: { device_keys: a.dev.deviceKeys(), one_time_keys: otks },
    });
    expect(again.status).toBe(200);
    expect(again.body.one_time_key_counts).toEqual({ signed_curve25519: 2 });
    const [id] = Object.keys(otks);
    const clash = await s.call("POST", `${V3}/keys/upload`, {
      token: a.accessToken,
      body: { one_time_keys: { [id!]: a.dev.signedKey(), ...a.dev.oneTimeKeys(1) } },
    });
    expect(clash.status).toBe(400);
    // The whole upload was refused: the extra key in it was not stored either.
    const counts = await s.call("POST", `${V3}/keys/upload`, { token: a.accessToken, body: {} });
    expect(counts.body.one_time_key_counts).toEqual({ signed_curve25519: 2 });
  });

  it("refuses new identity keys for an existing device", async () => {
    const a = await withKeys(0, false);
    const other = new TestDevice(a.userId, a.deviceId);
    const r = await s.call("POST", `${V3}/keys/upload`, {
      token: a.accessToken,
      body: { device_keys: other.deviceKeys() },
    });
    expect(r.status).toBe(400);
    expect(r.body.errcode).toBe("M_INVALID_PARAM");
  });

  it("claims one-time keys once each, oldest first, then the fallback key, which is kept", async () => {
    const a = await withKeys(2);
    const b = await s.register();
    const claim = () =>
      s.call("POST", `${V3}/keys/claim`, {
        token: b.accessToken,
        body: { one_time_keys: { [a.userId]: { [a.deviceId]: "signed_curve25519" } }, timeout: 10000 },
      });
    const got: Record<string, Record<string, unknown>>[] = [];
    for (let i = 0; i < 4; i++) {
      const r = await claim();
      expect(r.status).toBe(200);
      got.push(
        (r.body.one_time_keys as Record<string, Record<string, Record<string, Record<string, unknown>>>>)[
          a.userId
        ]![a.deviceId]!,
      );
    }
    const ids = got.map((g) => Object.keys(g)[0]);
    expect(new Set(ids.slice(0, 2)).size).toBe(2);
    expect(got[0]![ids[0]!]).not.toHaveProperty("fallback");
    // Out of one-time keys: the same fallback key, marked fallback, every time.
    expect(ids[2]).toBe(ids[3]);
    expect(got[2]![ids[2]!]).toMatchObject({ fallback: true });
    const counts = await s.call("POST", `${V3}/keys/upload`, { token: a.accessToken, body: {} });
    expect(counts.body.one_time_key_counts).toEqual({ signed_curve25519: 0 });
  });

  it("claims for many users and devices in one request and leaves out devices with no keys", async () => {
    const owners = await Promise.all([withKeys(1), withKeys(1), withKeys(0, false)]);
    const b = await s.register();
    const r = await s.call("POST", `${V3}/keys/claim`, {
      token: b.accessToken,
      body: {
        one_time_keys: {
          ...Object.fromEntries(owners.map((o) => [o.userId, { [o.deviceId]: "signed_curve25519" }])),
          "@ghost:localhost": { GHOST: "signed_curve25519" },
          "@far:remote.example": { X: "signed_curve25519" },
        },
      },
    });
    expect(r.status).toBe(200);
    const keys = r.body.one_time_keys as Record<string, unknown>;
    expect(Object.keys(keys).sort()).toEqual([owners[0]!.userId, owners[1]!.userId].sort());
    expect(r.body.failures).toHaveProperty("remote.example");
  });

  it("never hands out the same one-time key twice under 100 concurrent claims", async () => {
    const a = await withKeys(0);
    // Three uploads, so the keys span several batches.
    for (let i = 0; i < 3; i++) {
      await s.call("POST", `${V3}/keys/upload`, {
        token: a.accessToken,
        body: { one_time_keys: a.dev.oneTimeKeys(20) },
      });
    }
    const claimers = await Promise.all(Array.from({ length: 4 }, () => s.register()));
    const results = await Promise.all(
      Array.from({ length: 100 }, (_, i) =>
        s.call("POST", `${V3}/keys/claim`, {
          token: claimers[i % claimers.length]!.accessToken,
          body: { one_time_keys: { [a.userId]: { [a.deviceId]: "signed_curve25519" } } },
        }),
      ),
    );
    const otkIds: string[] = [];
    let fallbacks = 0;
    for (const r of results) {
      expect(r.status).toBe(200);
      const byId = (
        r.body.one_time_keys as Record<string, Record<string, Record<string, { fallback?: boolean }>>>
      )[a.userId]![a.deviceId]!;
      const [id, key] = Object.entries(byId)[0]!;
      if (key.fallback) fallbacks++;
      else otkIds.push(id);
    }
    expect(otkIds.length).toBe(60);
    expect(new Set(otkIds).size).toBe(60);
    expect(fallbacks).toBe(40);
  });

  it("keeps a used fallback key used on an identical re-upload, and a new one is unused", async () => {
    const a = await withKeys(0, false);
    const fb = a.dev.fallbackKey();
    await s.call("POST", `${V3}/keys/upload`, { token: a.accessToken, body: { fallback_keys: fb } });
    const keyServer = s.crypto.keys;
    const state = () => keyServer.otks.syncState({ userId: a.userId, deviceId: a.deviceId });
    expect((await state()).unusedFallback).toEqual(["signed_curve25519"]);
    const b = await s.register();
    await s.call("POST", `${V3}/keys/claim`, {
      token: b.accessToken,
      body: { one_time_keys: { [a.userId]: { [a.deviceId]: "signed_curve25519" } } },
    });
    expect((await state()).unusedFallback).toEqual([]);
    await s.call("POST", `${V3}/keys/upload`, { token: a.accessToken, body: { fallback_keys: fb } });
    expect((await state()).unusedFallback).toEqual([]);
    await s.call("POST", `${V3}/keys/upload`, {
      token: a.accessToken,
      body: { fallback_keys: a.dev.fallbackKey() },
    });
    expect((await state()).unusedFallback).toEqual(["signed_curve25519"]);
  });

  it("accepts key strings that are not base64, as Synapse does, and still checks the signatures it can", async () => {
    // A device key the server can check: a signed key whose string is not base64 is taken.
    const a = await s.register();
    const dev = new TestDevice(a.userId, a.deviceId);
    const opaqueKey = dev.ed.sign({ key: "!!!not base64!!!" }, a.userId, `ed25519:${a.deviceId}`);
    const r = await s.call("POST", `${V3}/keys/upload`, {
      token: a.accessToken,
      body: {
        device_keys: dev.deviceKeys(),
        one_time_keys: { "signed_curve25519:AAAA": opaqueKey, "curve25519:BBBB": "not+a+key" },
      },
    });
    expect(r.status).toBe(200);
    expect(r.body.one_time_key_counts).toEqual({ signed_curve25519: 1, curve25519: 1 });

    // Placeholder strings (sytest 41end-to-end-keys/01-upload-key.pl): no signature can be
    // checked, so the keys are stored as given and /keys/query answers them.
    const b = await s.register();
    const placeholder = {
      user_id: b.userId,
      device_id: b.deviceId,
      algorithms: ["m.olm.v1.curve25519-aes-sha2"],
      keys: { [`ed25519:${b.deviceId}`]: "ed25519+key", [`curve25519:${b.deviceId}`]: "curve25519+key" },
      signatures: { [b.userId]: { [`ed25519:${b.deviceId}`]: "self+signature" } },
    };
    const up = await s.call("POST", `${V3}/keys/upload`, {
      token: b.accessToken,
      body: {
        device_keys: placeholder,
        one_time_keys: {
          "my_algorithm:my_id_1": "my+base64+key",
          "signed_curve25519:CCCC": {
            key: "k",
            signatures: { [b.userId]: { [`ed25519:${b.deviceId}`]: "s" } },
          },
        },
      },
    });
    expect(up.status).toBe(200);
    expect(up.body.one_time_key_counts).toEqual({ my_algorithm: 1, signed_curve25519: 1 });
    for (const devices of [[], [b.deviceId]]) {
      const q = await s.call("POST", `${V3}/keys/query`, {
        token: a.accessToken,
        body: { device_keys: { [b.userId]: devices } },
      });
      expect(q.status).toBe(200);
      const got = (q.body.device_keys as Record<string, Record<string, Record<string, unknown>>>)[b.userId]!;
      expect(got[b.deviceId]).toMatchObject({ ...placeholder, unsigned: {} });
    }
    // Other identity keys for the same device are still refused; the user and device must match.
    const changed = await s.call("POST", `${V3}/keys/upload`, {
      token: b.accessToken,
      body: { device_keys: { ...placeholder, keys: { [`ed25519:${b.deviceId}`]: "other+key" } } },
    });
    expect([changed.status, changed.body.errcode]).toEqual([400, "M_INVALID_PARAM"]);
    const notMine = await s.call("POST", `${V3}/keys/upload`, {
      token: b.accessToken,
      body: { device_keys: { ...placeholder, user_id: a.userId } },
    });
    expect([notMine.status, notMine.body.errcode]).toEqual([400, "M_BAD_JSON"]);

    // Bare device keys (the sytest upload: user_id and device_id only) are stored as given.
    const c = await s.register();
    const bare = { user_id: c.userId, device_id: c.deviceId };
    const upBare = await s.call("POST", `${V3}/keys/upload`, {
      token: c.accessToken,
      body: { device_keys: bare, one_time_keys: { "my_algorithm:my_id_1": "my+base64+key" } },
    });
    expect([upBare.status, upBare.body.one_time_key_counts]).toEqual([
      200,
      { my_algorithm: 1, signed_curve25519: 0 },
    ]);
    const qBare = await s.call("POST", `${V3}/keys/query`, {
      token: a.accessToken,
      body: { device_keys: { [c.userId]: [] } },
    });
    expect((qBare.body.device_keys as Record<string, Record<string, unknown>>)[c.userId]).toEqual({
      [c.deviceId]: { ...bare, unsigned: {} },
    });
  });

  describe("bad input: a clear Matrix error and nothing stored", () => {
    async function nothingStored(a: Account) {
      const q = await s.call("POST", `${V3}/keys/query`, {
        token: a.accessToken,
        body: { device_keys: { [a.userId]: [] } },
      });
      expect(q.body.device_keys).toEqual({ [a.userId]: {} });
      const c = await s.call("POST", `${V3}/keys/upload`, { token: a.accessToken, body: {} });
      expect(c.body.one_time_key_counts).toEqual({ signed_curve25519: 0 });
    }

    it("unsigned device keys", async () => {
      const a = await s.register();
      const dev = new TestDevice(a.userId, a.deviceId);
      const { signatures: _s, ...unsigned } = dev.deviceKeys();
      const r = await s.call("POST", `${V3}/keys/upload`, {
        token: a.accessToken,
        body: { device_keys: { ...unsigned, signatures: {} }, one_time_keys: dev.oneTimeKeys(2) },
      });
      expect([r.status, r.body.errcode]).toEqual([400, "M_INVALID_SIGNATURE"]);
      await nothingStored(a);
    });

    it("wrongly signed device keys", async () => {
      const a = await s.register();
      const dev = new TestDevice(a.userId, a.deviceId);
      const forged = new SigningKey().sign(
        { ...dev.deviceKeys(), signatures: {} },
        a.userId,
        `ed25519:${a.deviceId}`,
      );
      const r = await s.call("POST", `${V3}/keys/upload`, {
        token: a.accessToken,
        body: { device_keys: forged },
      });
      expect([r.status, r.body.errcode]).toEqual([400, "M_INVALID_SIGNATURE"]);
      // Tampered after signing.
      const tampered = { ...dev.deviceKeys(), algorithms: ["m.megolm.v1.aes-sha2"] };
      const t = await s.call("POST", `${V3}/keys/upload`, {
        token: a.accessToken,
        body: { device_keys: tampered },
      });
      expect([t.status, t.body.errcode]).toEqual([400, "M_INVALID_SIGNATURE"]);
      await nothingStored(a);
    });

    it("wrongly signed one-time keys", async () => {
      const a = await s.register();
      const dev = new TestDevice(a.userId, a.deviceId);
      const bad = new SigningKey().sign({ key: dev.curve }, a.userId, `ed25519:${a.deviceId}`);
      const r = await s.call("POST", `${V3}/keys/upload`, {
        token: a.accessToken,
        body: {
          device_keys: dev.deviceKeys(),
          one_time_keys: { ...dev.oneTimeKeys(3), "signed_curve25519:BAD": bad },
        },
      });
      expect([r.status, r.body.errcode]).toEqual([400, "M_INVALID_SIGNATURE"]);
      await nothingStored(a);
    });

    it("keys for another user or device", async () => {
      const a = await s.register();
      const b = await s.register();
      const forB = new TestDevice(b.userId, b.deviceId);
      const r = await s.call("POST", `${V3}/keys/upload`, {
        token: a.accessToken,
        body: { device_keys: forB.deviceKeys() },
      });
      expect([r.status, r.body.errcode]).toEqual([400, "M_BAD_JSON"]);
      const otherDevice = new TestDevice(a.userId, "OTHERDEVICE");
      const r2 = await s.call("POST", `${V3}/keys/upload`, {
        token: a.accessToken,
        body: { device_keys: otherDevice.deviceKeys() },
      });
      expect([r2.status, r2.body.errcode]).toEqual([400, "M_BAD_JSON"]);
      await nothingStored(a);
    });

    it("malformed key ids", async () => {
      const a = await s.register();
      const dev = new TestDevice(a.userId, a.deviceId);
      for (const id of [
        "nocolon",
        ":AAAA",
        "signed_curve25519:",
        "signed curve:AAAA",
        `x:${"A".repeat(300)}`,
      ]) {
        const r = await s.call("POST", `${V3}/keys/upload`, {
          token: a.accessToken,
          body: {
            device_keys: dev.deviceKeys(),
            one_time_keys: { ...dev.oneTimeKeys(1), [id]: dev.signedKey() },
          },
        });
        expect([r.status, r.body.errcode]).toEqual([400, "M_INVALID_PARAM"]);
      }
      await nothingStored(a);
    });

    it("key strings that are not base64 under a checkable device key, whose signatures stay checked", async () => {
      const a = await s.register();
      const dev = new TestDevice(a.userId, a.deviceId);
      const keys = dev.deviceKeys();
      const badDevice = { ...keys, keys: { ...(keys.keys as object), [`curve25519:${a.deviceId}`]: "ab$%" } };
      const r = await s.call("POST", `${V3}/keys/upload`, {
        token: a.accessToken,
        body: { device_keys: badDevice },
      });
      expect([r.status, r.body.errcode]).toEqual([400, "M_INVALID_SIGNATURE"]);
      const badSig = { ...keys, signatures: { [a.userId]: { [`ed25519:${a.deviceId}`]: "@@@@" } } };
      const r2 = await s.call("POST", `${V3}/keys/upload`, {
        token: a.accessToken,
        body: { device_keys: badSig },
      });
      expect([r2.status, r2.body.errcode]).toEqual([400, "M_INVALID_SIGNATURE"]);
      const curveObject = await s.call("POST", `${V3}/keys/upload`, {
        token: a.accessToken,
        body: { device_keys: keys, one_time_keys: { "curve25519:AAAA": { key: "x" } } },
      });
      expect([curveObject.status, curveObject.body.errcode]).toEqual([400, "M_INVALID_PARAM"]);
      await nothingStored(a);
    });
    it("claims for unknown users and malformed user ids", async () => {
      const a = await s.register();
      const unknown = await s.call("POST", `${V3}/keys/claim`, {
        token: a.accessToken,
        body: { one_time_keys: { "@nobody:localhost": { DEV: "signed_curve25519" } } },
      });
      // Spec: unknown users are simply absent.
      expect(unknown.status).toBe(200);
      expect(unknown.body.one_time_keys).toEqual({});
      const bad = await s.call("POST", `${V3}/keys/claim`, {
        token: a.accessToken,
        body: { one_time_keys: { "not-a-user": { DEV: "signed_curve25519" } } },
      });
      expect([bad.status, bad.body.errcode]).toEqual([400, "M_INVALID_PARAM"]);
      const shape = await s.call("POST", `${V3}/keys/claim`, {
        token: a.accessToken,
        body: { one_time_keys: [] },
      });
      expect([shape.status, shape.body.errcode]).toEqual([400, "M_BAD_JSON"]);
    });
  });
});
