import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestServer, type TestServer } from "../helpers/server.ts";

type Device = { device_id: string; display_name: string | null };

const V3 = "/_matrix/client/v3";
const PW = "correct horse battery staple";

describe("devices, password and profile", () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer();
  });
  afterAll(async () => {
    await s.close();
  });

  const login = async (user: string, password = PW, deviceId?: string) => {
    const r = await s.call("POST", `${V3}/login`, {
      body: {
        type: "m.login.password",
        identifier: { type: "m.id.user", user },
        password,
        ...(deviceId ? { device_id: deviceId } : {}),
        initial_device_display_name: "Laptop",
      },
    });
    return r;
  };
  const whoami = (token: string) => s.call("GET", `${V3}/account/whoami`, { token });

  it("lists, reads and renames devices", async () => {
    const alice = await s.register("alice");
    const second = await login("alice", PW, "SECOND");
    expect(second.status).toBe(200);
    const list = await s.call("GET", `${V3}/devices`, { token: alice.accessToken });
    const ids = (list.body.devices as Device[]).map((d) => d.device_id).sort();
    expect(ids).toEqual([alice.deviceId, "SECOND"].sort());
    const one = await s.call("GET", `${V3}/devices/SECOND`, { token: alice.accessToken });
    expect(one.body).toMatchObject({ device_id: "SECOND", display_name: "Laptop" });
    const rename = await s.call("PUT", `${V3}/devices/SECOND`, {
      token: alice.accessToken,
      body: { display_name: "Work laptop" },
    });
    expect(rename.status).toBe(200);
    expect(
      (await s.call("GET", `${V3}/devices/SECOND`, { token: alice.accessToken })).body.display_name,
    ).toBe("Work laptop");
    const missing = await s.call("GET", `${V3}/devices/NOPE`, { token: alice.accessToken });
    expect(missing.status).toBe(404);
    expect(missing.body.errcode).toBe("M_NOT_FOUND");
    const renameMissing = await s.call("PUT", `${V3}/devices/NOPE`, { token: alice.accessToken, body: {} });
    expect(renameMissing.status).toBe(404);
    const badName = await s.call("PUT", `${V3}/devices/SECOND`, {
      token: alice.accessToken,
      body: { display_name: 42 },
    });
    expect(badName.status).toBe(400);
    expect(badName.body.errcode).toBe("M_BAD_JSON");
    // Another user's device is not visible.
    const bob = await s.register("bob");
    expect((await s.call("GET", `${V3}/devices/SECOND`, { token: bob.accessToken })).status).toBe(404);
  });

  it("deletes a device only after password UIA, revoking its token at once", async () => {
    const carol = await s.register("carol");
    const other = await login("carol", PW, "PHONE");
    const otherToken = other.body.access_token as string;
    expect((await whoami(otherToken)).status).toBe(200);

    const first = await s.call("DELETE", `${V3}/devices/PHONE`, { token: carol.accessToken, body: {} });
    expect(first.status).toBe(401);
    expect(first.body.flows).toEqual([{ stages: ["m.login.password"] }]);
    const session = first.body.session as string;

    const wrong = await s.call("DELETE", `${V3}/devices/PHONE`, {
      token: carol.accessToken,
      body: {
        auth: {
          type: "m.login.password",
          session,
          identifier: { type: "m.id.user", user: "carol" },
          password: "nope",
        },
      },
    });
    expect(wrong.status).toBe(401);
    expect(wrong.body.errcode).toBe("M_FORBIDDEN");
    expect((await whoami(otherToken)).status).toBe(200);

    // Another user's right password authenticates them, not carol: 403, and the device stays.
    await s.register("mallory");
    const asMallory = await s.call("DELETE", `${V3}/devices/PHONE`, {
      token: carol.accessToken,
      body: {
        auth: {
          type: "m.login.password",
          session,
          identifier: { type: "m.id.user", user: "@mallory:localhost" },
          password: PW,
        },
      },
    });
    expect([asMallory.status, asMallory.body.errcode]).toEqual([403, "M_FORBIDDEN"]);
    expect((await whoami(otherToken)).status).toBe(200);

    const ok = await s.call("DELETE", `${V3}/devices/PHONE`, {
      token: carol.accessToken,
      body: {
        auth: {
          type: "m.login.password",
          session,
          identifier: { type: "m.id.user", user: "carol" },
          password: PW,
        },
      },
    });
    expect(ok.status).toBe(200);
    const revoked = await whoami(otherToken);
    expect(revoked.status).toBe(401);
    expect(revoked.body.errcode).toBe("M_UNKNOWN_TOKEN");
    expect((await s.call("GET", `${V3}/devices/PHONE`, { token: carol.accessToken })).status).toBe(404);
    expect(
      (await s.call("DELETE", `${V3}/devices/PHONE`, { token: carol.accessToken, body: {} })).status,
    ).toBe(404);
  });

  it("deletes several devices with /delete_devices", async () => {
    const dan = await s.register("dan");
    const a = (await login("dan", PW, "A")).body.access_token as string;
    const b = (await login("dan", PW, "B")).body.access_token as string;
    const bad = await s.call("POST", `${V3}/delete_devices`, {
      token: dan.accessToken,
      body: { devices: "A" },
    });
    expect(bad.status).toBe(400);
    const first = await s.call("POST", `${V3}/delete_devices`, {
      token: dan.accessToken,
      body: { devices: ["A", "B", "GHOST"] },
    });
    expect(first.status).toBe(401);
    const done = await s.call("POST", `${V3}/delete_devices`, {
      token: dan.accessToken,
      body: {
        devices: ["A", "B", "GHOST"],
        auth: { type: "m.login.password", session: first.body.session, user: "dan", password: PW },
      },
    });
    expect(done.status).toBe(200);
    expect((await whoami(a)).status).toBe(401);
    expect((await whoami(b)).status).toBe(401);
    expect((await whoami(dan.accessToken)).status).toBe(200);
  });

  it("changes the password with UIA, logging out other devices but keeping this one", async () => {
    const erin = await s.register("erin");
    const other = (await login("erin", PW, "OTHER")).body.access_token as string;
    const noBody = await s.call("POST", `${V3}/account/password`, { token: erin.accessToken, body: {} });
    expect(noBody.status).toBe(400);
    expect(noBody.body.errcode).toBe("M_BAD_JSON");
    const first = await s.call("POST", `${V3}/account/password`, {
      token: erin.accessToken,
      body: { new_password: "n3w password" },
    });
    expect(first.status).toBe(401);
    const done = await s.call("POST", `${V3}/account/password`, {
      token: erin.accessToken,
      body: {
        new_password: "n3w password",
        auth: { type: "m.login.password", session: first.body.session, user: erin.userId, password: PW },
      },
    });
    expect(done.status).toBe(200);
    expect((await whoami(erin.accessToken)).status).toBe(200);
    expect((await whoami(other)).status).toBe(401);
    expect((await login("erin", PW)).status).toBe(403);
    expect((await login("erin", "n3w password")).status).toBe(200);

    // logout_devices: false keeps the others.
    const keep = (await login("erin", "n3w password", "KEEP")).body.access_token as string;
    const again = await s.call("POST", `${V3}/account/password`, {
      token: erin.accessToken,
      body: { new_password: "third", logout_devices: false },
    });
    const kept = await s.call("POST", `${V3}/account/password`, {
      token: erin.accessToken,
      body: {
        new_password: "third",
        logout_devices: false,
        auth: {
          type: "m.login.password",
          session: again.body.session,
          user: "erin",
          password: "n3w password",
        },
      },
    });
    expect(kept.status).toBe(200);
    expect((await whoami(keep)).status).toBe(200);
  });

  it("reads and writes profiles with the spec's errors", async () => {
    const frank = await s.register("frank");
    const gina = await s.register("gina");
    const p = `${V3}/profile/${frank.userId}`;
    expect((await s.call("GET", p)).body).toEqual({ displayname: "frank" });
    expect(
      (
        await s.call("PUT", `${p}/displayname`, {
          token: frank.accessToken,
          body: { displayname: "Frank F" },
        })
      ).status,
    ).toBe(200);
    expect(
      (
        await s.call("PUT", `${p}/avatar_url`, {
          token: frank.accessToken,
          body: { avatar_url: "mxc://localhost/abc" },
        })
      ).status,
    ).toBe(200);
    expect((await s.call("GET", p, { token: gina.accessToken })).body).toEqual({
      displayname: "Frank F",
      avatar_url: "mxc://localhost/abc",
    });
    expect((await s.call("GET", `${p}/displayname`)).body).toEqual({ displayname: "Frank F" });
    expect((await s.call("GET", `${p}/avatar_url`)).body).toEqual({ avatar_url: "mxc://localhost/abc" });

    const other = await s.call("PUT", `${p}/displayname`, {
      token: gina.accessToken,
      body: { displayname: "hax" },
    });
    expect(other.status).toBe(403);
    expect(other.body.errcode).toBe("M_FORBIDDEN");
    const unknown = await s.call("GET", `${V3}/profile/@nobody:localhost`);
    expect(unknown.status).toBe(404);
    expect(unknown.body.errcode).toBe("M_NOT_FOUND");
    const invalid = await s.call("GET", `${V3}/profile/nobody`);
    expect(invalid.status).toBe(400);
    expect(invalid.body.errcode).toBe("M_INVALID_PARAM");
    const badBody = await s.call("PUT", `${p}/displayname`, {
      token: frank.accessToken,
      body: { displayname: 7 },
    });
    expect(badBody.status).toBe(400);
    expect(badBody.body.errcode).toBe("M_BAD_JSON");
    const tooLong = await s.call("PUT", `${p}/displayname`, {
      token: frank.accessToken,
      body: { displayname: "x".repeat(300) },
    });
    expect(tooLong.status).toBe(400);
    // Nothing changed by the failures.
    expect((await s.call("GET", `${p}/displayname`)).body).toEqual({ displayname: "Frank F" });
    const noToken = await s.call("PUT", `${p}/displayname`, { body: { displayname: "x" } });
    expect(noToken.status).toBe(401);
    expect(noToken.body.errcode).toBe("M_MISSING_TOKEN");
  });
});
