import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { SigningKey, TestDevice } from "./olm-keys.ts";

const V3 = "/_matrix/client/v3";
const PASSWORD = "correct horse battery staple";

/** A user's cross-signing identity, signed as a client signs it. */
class CrossSigning {
  readonly master = new SigningKey();
  readonly selfSigning = new SigningKey();
  readonly userSigning = new SigningKey();
  constructor(readonly userId: string) {}
  key(
    type: "master" | "self_signing" | "user_signing",
    k: SigningKey,
    signer: SigningKey | null,
  ): Record<string, unknown> {
    const obj = { user_id: this.userId, usage: [type], keys: { [`ed25519:${k.publicKey}`]: k.publicKey } };
    return signer ? signer.sign(obj, this.userId, `ed25519:${signer.publicKey}`) : obj;
  }
  body() {
    return {
      master_key: this.key("master", this.master, null),
      self_signing_key: this.key("self_signing", this.selfSigning, this.master),
      user_signing_key: this.key("user_signing", this.userSigning, this.master),
    };
  }
}

describe("cross-signing and signatures", () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer();
  });
  afterAll(async () => {
    await s.close();
  });

  async function userWithDevice() {
    const a = await s.register();
    const dev = new TestDevice(a.userId, a.deviceId);
    await s.call("POST", `${V3}/keys/upload`, {
      token: a.accessToken,
      body: { device_keys: dev.deviceKeys() },
    });
    return { ...a, dev, cs: new CrossSigning(a.userId) };
  }
  const query = (token: string, userIds: string[]) =>
    s.call("POST", `${V3}/keys/query`, {
      token,
      body: { device_keys: Object.fromEntries(userIds.map((u) => [u, []])) },
    });

  it("needs no UIA for the first upload or an identical re-upload, and a password for a change", async () => {
    const a = await userWithDevice();
    const up = (body: Record<string, unknown>) =>
      s.call("POST", `${V3}/keys/device_signing/upload`, { token: a.accessToken, body });
    expect((await up(a.cs.body())).status).toBe(200);
    expect((await up(a.cs.body())).status).toBe(200);

    const replacement = a.cs.key("self_signing", new SigningKey(), a.cs.master);
    const challenge = await up({ self_signing_key: replacement });
    expect(challenge.status).toBe(401);
    expect(challenge.body.flows).toEqual([{ stages: ["m.login.password"] }]);
    const session = challenge.body.session as string;
    const wrong = await up({
      self_signing_key: replacement,
      auth: {
        type: "m.login.password",
        session,
        identifier: { type: "m.id.user", user: a.userId },
        password: "nope",
      },
    });
    expect([wrong.status, wrong.body.errcode]).toEqual([401, "M_FORBIDDEN"]);
    const ok = await up({
      self_signing_key: replacement,
      auth: {
        type: "m.login.password",
        session,
        identifier: { type: "m.id.user", user: a.userId },
        password: PASSWORD,
      },
    });
    expect(ok.status).toBe(200);
    const q = await query(a.accessToken, [a.userId]);
    expect(q.body.self_signing_keys).toEqual({ [a.userId]: replacement });
  });

  it("validates cross-signing keys", async () => {
    const a = await userWithDevice();
    const up = (body: Record<string, unknown>) =>
      s.call("POST", `${V3}/keys/device_signing/upload`, { token: a.accessToken, body });
    const noMaster = await up({ self_signing_key: a.cs.key("self_signing", a.cs.selfSigning, a.cs.master) });
    expect([noMaster.status, noMaster.body.errcode]).toEqual([400, "M_MISSING_PARAM"]);
    const unsigned = await up({
      master_key: a.cs.key("master", a.cs.master, null),
      self_signing_key: a.cs.key("self_signing", a.cs.selfSigning, null),
    });
    expect([unsigned.status, unsigned.body.errcode]).toEqual([400, "M_INVALID_SIGNATURE"]);
    const wrongSigner = await up({
      master_key: a.cs.key("master", a.cs.master, null),
      self_signing_key: a.cs.key("self_signing", a.cs.selfSigning, new SigningKey()),
    });
    expect([wrongSigner.status, wrongSigner.body.errcode]).toEqual([400, "M_INVALID_SIGNATURE"]);
    const badKey = await up({
      master_key: { user_id: a.userId, usage: ["master"], keys: { "ed25519:xyz": "xyz" } },
    });
    expect([badKey.status, badKey.body.errcode]).toEqual([400, "M_INVALID_PARAM"]);
    const otherUser = await up({
      master_key: new CrossSigning("@other:localhost").key("master", a.cs.master, null),
    });
    expect([otherUser.status, otherUser.body.errcode]).toEqual([400, "M_INVALID_PARAM"]);
    // Nothing was stored by any of these.
    const q = await query(a.accessToken, [a.userId]);
    expect(q.body.master_keys).toEqual({});
  });

  it("shows master and self-signing keys to everyone, the user-signing key only to its owner", async () => {
    const a = await userWithDevice();
    const b = await userWithDevice();
    await s.call("POST", `${V3}/keys/device_signing/upload`, { token: a.accessToken, body: a.cs.body() });
    const asB = await query(b.accessToken, [a.userId]);
    expect(asB.body.master_keys).toEqual({ [a.userId]: a.cs.body().master_key });
    expect(asB.body.self_signing_keys).toEqual({ [a.userId]: a.cs.body().self_signing_key });
    expect(asB.body.user_signing_keys).toEqual({});
    const asA = await query(a.accessToken, [a.userId]);
    expect(asA.body.user_signing_keys).toEqual({ [a.userId]: a.cs.body().user_signing_key });
  });

  it("verifies and stores signatures of own devices, own master key and other users' master keys", async () => {
    const a = await userWithDevice();
    const b = await userWithDevice();
    await s.call("POST", `${V3}/keys/device_signing/upload`, { token: a.accessToken, body: a.cs.body() });
    await s.call("POST", `${V3}/keys/device_signing/upload`, { token: b.accessToken, body: b.cs.body() });

    // a's self-signing key signs a's device; a's device signs a's master key.
    const deviceSigned = a.cs.selfSigning.sign(
      a.dev.deviceKeys(),
      a.userId,
      `ed25519:${a.cs.selfSigning.publicKey}`,
    );
    const masterSigned = a.dev.ed.sign(a.cs.body().master_key, a.userId, `ed25519:${a.deviceId}`);
    const r = await s.call("POST", `${V3}/keys/signatures/upload`, {
      token: a.accessToken,
      body: { [a.userId]: { [a.deviceId]: deviceSigned, [a.cs.master.publicKey]: masterSigned } },
    });
    expect(r.status).toBe(200);
    expect(r.body.failures).toEqual({});

    // b signs a's master key with b's user-signing key: only b sees it.
    const crossSigned = b.cs.userSigning.sign(
      a.cs.body().master_key,
      b.userId,
      `ed25519:${b.cs.userSigning.publicKey}`,
    );
    const r2 = await s.call("POST", `${V3}/keys/signatures/upload`, {
      token: b.accessToken,
      body: { [a.userId]: { [a.cs.master.publicKey]: crossSigned } },
    });
    expect(r2.body.failures).toEqual({});

    const asB = await query(b.accessToken, [a.userId]);
    const dk = (asB.body.device_keys as Record<string, Record<string, Record<string, unknown>>>)[a.userId]![
      a.deviceId
    ]!;
    expect(dk.signatures).toEqual(deviceSigned.signatures);
    const mk = (asB.body.master_keys as Record<string, Record<string, unknown>>)[a.userId]!;
    expect(mk.signatures).toEqual({
      ...(masterSigned.signatures as object),
      ...(crossSigned.signatures as object),
    });
    const asOther = await query((await s.register()).accessToken, [a.userId]);
    const mk2 = (asOther.body.master_keys as Record<string, Record<string, unknown>>)[a.userId]!;
    expect(mk2.signatures).toEqual(masterSigned.signatures);
  });

  it("reports bad signatures per item and stores none of them", async () => {
    const a = await userWithDevice();
    const b = await userWithDevice();
    await s.call("POST", `${V3}/keys/device_signing/upload`, { token: a.accessToken, body: a.cs.body() });
    const forged = new SigningKey().sign(
      a.dev.deviceKeys(),
      a.userId,
      `ed25519:${a.cs.selfSigning.publicKey}`,
    );
    const altered = a.cs.selfSigning.sign(
      { ...a.dev.deviceKeys(), algorithms: ["x"] },
      a.userId,
      `ed25519:${a.cs.selfSigning.publicKey}`,
    );
    const r = await s.call("POST", `${V3}/keys/signatures/upload`, {
      token: a.accessToken,
      body: {
        [a.userId]: { [a.deviceId]: forged, NODEVICE: altered },
        [b.userId]: { SOMEKEY: {} },
      },
    });
    expect(r.status).toBe(200);
    const f = r.body.failures as Record<string, Record<string, { errcode: string }>>;
    expect(f[a.userId]![a.deviceId]!.errcode).toBe("M_INVALID_SIGNATURE");
    expect(f[a.userId]!.NODEVICE!.errcode).toBe("M_NOT_FOUND");
    expect(f[b.userId]!.SOMEKEY!.errcode).toBe("M_NOT_FOUND");
    const q = await query(b.accessToken, [a.userId]);
    const dk = (q.body.device_keys as Record<string, Record<string, Record<string, unknown>>>)[a.userId]![
      a.deviceId
    ]!;
    expect(dk.signatures).toEqual(a.dev.deviceKeys().signatures);
  });
});
