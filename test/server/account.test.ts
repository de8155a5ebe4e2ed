import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestServer, type TestServer } from "../helpers/server.ts";

describe("accounts", () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer();
  });
  afterAll(async () => {
    await s.close();
  });

  it("registers through the dummy UIA stage and answers whoami", async () => {
    const first = await s.call("POST", "/_matrix/client/v3/register", {
      body: { username: "alice", password: "pw1" },
    });
    expect(first.status).toBe(401);
    expect(first.body.flows).toEqual([{ stages: ["m.login.dummy"] }]);
    const done = await s.call("POST", "/_matrix/client/v3/register", {
      body: {
        username: "alice",
        password: "pw1",
        auth: { type: "m.login.dummy", session: first.body.session },
      },
    });
    expect(done.status).toBe(200);
    expect(done.body.user_id).toBe("@alice:localhost");
    const who = await s.call("GET", "/_matrix/client/v3/account/whoami", {
      token: done.body.access_token as string,
    });
    expect(who.body).toMatchObject({ user_id: "@alice:localhost", device_id: done.body.device_id });
  });

  it("makes registration idempotent per UIA session, and remembers the first request's parameters", async () => {
    const reg = (body: Record<string, unknown>) => s.call("POST", "/_matrix/client/v3/register", { body });
    // Without a username: the repeat answers the same generated user, logged in again.
    const anon = await reg({ password: "sUp3rs3kr1t" });
    const auth = { type: "m.login.dummy", session: anon.body.session };
    const one = await reg({ password: "sUp3rs3kr1t", auth });
    const two = await reg({ password: "sUp3rs3kr1t", auth });
    expect([one.status, two.status]).toEqual([200, 200]);
    expect(two.body.user_id).toBe(one.body.user_id);
    expect(two.body.access_token).not.toBe(one.body.access_token);
    // With one: no M_USER_IN_USE for its own repeat.
    const named = await reg({ username: "idem", password: "sUp3rs3kr1t" });
    const namedAuth = { type: "m.login.dummy", session: named.body.session };
    const n1 = await reg({ username: "idem", password: "sUp3rs3kr1t", auth: namedAuth });
    const n2 = await reg({ username: "idem", password: "sUp3rs3kr1t", auth: namedAuth });
    expect([n1.status, n2.status, n2.body.user_id]).toEqual([200, 200, "@idem:localhost"]);
    // A second stage carrying only `auth` registers with the first request's parameters.
    const first = await reg({ username: "unicode", password: "übers3kr1t", inhibit_login: true });
    const done = await reg({ auth: { type: "m.login.dummy", session: first.body.session } });
    expect(done.status).toBe(200);
    expect(done.body).toEqual({ user_id: "@unicode:localhost", home_server: "localhost" });
    const login = await s.call("POST", "/_matrix/client/v3/login", {
      body: {
        type: "m.login.password",
        identifier: { type: "m.id.user", user: "unicode" },
        password: "übers3kr1t",
      },
    });
    expect(login.status).toBe(200);
    // A session is bound to registration: another user's completed one cannot be replayed elsewhere.
    const other = await reg({ username: "someoneelse", password: "x", auth: namedAuth });
    expect(other.status).toBe(200);
    expect(other.body.user_id).toBe("@idem:localhost");
  });

  it("rejects a duplicate username with M_USER_IN_USE", async () => {
    await s.register("bob");
    const r = await s.call("POST", "/_matrix/client/v3/register", {
      body: { username: "bob", password: "x", auth: { type: "m.login.dummy" } },
    });
    expect(r.status).toBe(400);
    expect(r.body.errcode).toBe("M_USER_IN_USE");
  });

  it("logs in with a password, and logout revokes the token at once", async () => {
    await s.register("carol", "secret");
    const login = await s.call("POST", "/_matrix/client/v3/login", {
      body: {
        type: "m.login.password",
        identifier: { type: "m.id.user", user: "carol" },
        password: "secret",
      },
    });
    expect(login.status).toBe(200);
    const token = login.body.access_token as string;
    expect((await s.call("GET", "/_matrix/client/v3/account/whoami", { token })).status).toBe(200);
    expect((await s.call("POST", "/_matrix/client/v3/logout", { token })).status).toBe(200);
    const after = await s.call("GET", "/_matrix/client/v3/account/whoami", { token });
    expect(after.status).toBe(401);
    expect(after.body.errcode).toBe("M_UNKNOWN_TOKEN");
  });

  it("maps bad input to Matrix errors", async () => {
    expect((await s.call("POST", "/_matrix/client/v3/login", { raw: "{not json" })).body.errcode).toBe(
      "M_NOT_JSON",
    );
    expect((await s.call("POST", "/_matrix/client/v3/login", { body: { type: 5 } })).body.errcode).toBe(
      "M_BAD_JSON",
    );
    const none = await s.call("GET", "/_matrix/client/v3/account/whoami");
    expect([none.status, none.body.errcode]).toEqual([401, "M_MISSING_TOKEN"]);
    const bad = await s.call("GET", "/_matrix/client/v3/account/whoami", { token: "nope" });
    expect([bad.status, bad.body.errcode]).toEqual([401, "M_UNKNOWN_TOKEN"]);
    expect((await s.call("GET", "/_matrix/client/v3/nothing/here")).body.errcode).toBe("M_UNRECOGNIZED");
    expect((await s.call("DELETE", "/_matrix/client/versions")).status).toBe(405);
  });

  it("throttles repeated failed logins with M_LIMIT_EXCEEDED", async () => {
    await s.register("dave", "right");
    let last = { status: 0, body: {} as Record<string, unknown> };
    for (let i = 0; i < 7; i++) {
      last = await s.call("POST", "/_matrix/client/v3/login", {
        body: { type: "m.login.password", user: "dave", password: "wrong" },
      });
    }
    expect(last.status).toBe(429);
    expect(last.body.errcode).toBe("M_LIMIT_EXCEEDED");
    expect(typeof last.body.retry_after_ms).toBe("number");
  });
});
