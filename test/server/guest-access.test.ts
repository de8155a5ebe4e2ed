import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestServer, type TestServer } from "../helpers/server.ts";

const PW = "correct horse battery staple";

describe("guest access", () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer();
  });
  afterAll(async () => {
    await s.close();
  });

  const guest = async () => {
    const r = await s.call("POST", "/_matrix/client/v3/register?kind=guest", { body: {} });
    expect(r.status).toBe(200);
    return { userId: r.body.user_id as string, accessToken: r.body.access_token as string };
  };
  const room = async (token: string, guestAccess?: string) => {
    const r = await s.call("POST", "/_matrix/client/v3/createRoom", {
      token,
      body: {
        preset: "public_chat",
        ...(guestAccess
          ? {
              initial_state: [
                { type: "m.room.guest_access", state_key: "", content: { guest_access: guestAccess } },
              ],
            }
          : {}),
      },
    });
    expect(r.status).toBe(200);
    return r.body.room_id as string;
  };
  const path = (roomId: string, rest: string) =>
    `/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}/${rest}`;

  it("registers a guest without UIA; whoami says is_guest", async () => {
    const g = await guest();
    expect(g.userId).toMatch(/^@.+:localhost$/);
    const who = await s.call("GET", "/_matrix/client/v3/account/whoami", { token: g.accessToken });
    expect(who.body).toMatchObject({ user_id: g.userId, is_guest: true });
  });

  it("refuses a guest outside the Guest Access endpoints with M_GUEST_ACCESS_FORBIDDEN", async () => {
    const g = await guest();
    const create = await s.call("POST", "/_matrix/client/v3/createRoom", { token: g.accessToken, body: {} });
    expect(create.status).toBe(403);
    expect(create.body.errcode).toBe("M_GUEST_ACCESS_FORBIDDEN");
    const deactivate = await s.call("POST", "/_matrix/client/v3/account/deactivate", {
      token: g.accessToken,
      body: {},
    });
    expect(deactivate.body.errcode).toBe("M_GUEST_ACCESS_FORBIDDEN");
    const name = await s.call(
      "PUT",
      `/_matrix/client/v3/profile/${encodeURIComponent(g.userId)}/displayname`,
      {
        token: g.accessToken,
        body: { displayname: "Visitor" },
      },
    );
    expect(name.status).toBe(200);
    const profile = await s.call("GET", `/_matrix/client/v3/profile/${encodeURIComponent(g.userId)}`, {
      token: g.accessToken,
    });
    expect(profile.body.displayname).toBe("Visitor");
  });

  it("joins only can_join rooms, and is removed when guest access is revoked", async () => {
    const host = await s.register();
    const g = await guest();
    const closed = await room(host.accessToken);
    const shut = await s.call("POST", path(closed, "join"), { token: g.accessToken, body: {} });
    expect(shut.status).toBe(403);
    expect(shut.body.errcode).toBe("M_FORBIDDEN");

    const open = await room(host.accessToken, "can_join");
    expect((await s.call("POST", path(open, "join"), { token: g.accessToken, body: {} })).status).toBe(200);
    const sent = await s.call("PUT", path(open, "send/m.room.message/t1"), {
      token: g.accessToken,
      body: { msgtype: "m.text", body: "hello" },
    });
    expect(sent.status).toBe(200);

    const revoke = await s.call("PUT", path(open, "state/m.room.guest_access"), {
      token: host.accessToken,
      body: { guest_access: "forbidden" },
    });
    expect(revoke.status).toBe(200);
    expect(await s.rooms.membership(open, g.userId)).toBe("leave");
    expect(await s.rooms.membership(open, host.userId)).toBe("join");
  });

  it("a guest upgrades to a full account keeping its user id, but cannot take another's", async () => {
    const other = await s.register("taken_name");
    const g = await guest();
    const localpart = g.userId.slice(1).split(":")[0]!;

    const steal = await s.call("POST", "/_matrix/client/v3/register", {
      body: {
        username: "taken_name",
        password: PW,
        guest_access_token: g.accessToken,
        auth: { type: "m.login.dummy" },
      },
    });
    expect(steal.status).toBe(400);
    expect(steal.body.errcode).toBe("M_USER_IN_USE");
    expect((await s.identity.getUser(other.userId))?.isGuest).toBe(false);

    const up = await s.call("POST", "/_matrix/client/v3/register", {
      body: {
        username: localpart,
        password: PW,
        guest_access_token: g.accessToken,
        auth: { type: "m.login.dummy" },
      },
    });
    expect(up.status).toBe(200);
    expect(up.body.user_id).toBe(g.userId);
    const who = await s.call("GET", "/_matrix/client/v3/account/whoami", {
      token: up.body.access_token as string,
    });
    expect(who.body).toMatchObject({ user_id: g.userId, is_guest: false });
    // The old guest token now acts as the full user too.
    const create = await s.call("POST", "/_matrix/client/v3/createRoom", { token: g.accessToken, body: {} });
    expect(create.status).toBe(200);
    const login = await s.call("POST", "/_matrix/client/v3/login", {
      body: { type: "m.login.password", user: localpart, password: PW },
    });
    expect(login.status).toBe(200);

    // A registered user's token is no guest token.
    const notGuest = await s.call("POST", "/_matrix/client/v3/register", {
      body: { password: PW, guest_access_token: other.accessToken, auth: { type: "m.login.dummy" } },
    });
    expect(notGuest.status).toBe(403);
  });

  it("an unknown kind is a 400, not a 500; a guest needs no body", async () => {
    const r = await s.call("POST", "/_matrix/client/v3/register?kind=robot", { body: {} });
    expect(r.status).toBe(400);
    expect((await s.call("POST", "/_matrix/client/v3/register?kind=guest")).status).toBe(200);
    const bad = await s.call("POST", "/_matrix/client/v3/register", {
      body: { password: PW, guest_access_token: "nope", auth: { type: "m.login.dummy" } },
    });
    expect(bad.status).toBe(401);
    expect(bad.body.errcode).toBe("M_UNKNOWN_TOKEN");
  });
});

describe("guest access disabled", () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer({ NOVA_GUEST_ACCESS: "0" });
  });
  afterAll(async () => {
    await s.close();
  });

  it("answers 403 M_GUEST_ACCESS_FORBIDDEN", async () => {
    const r = await s.call("POST", "/_matrix/client/v3/register?kind=guest", { body: {} });
    expect(r.status).toBe(403);
    expect(r.body.errcode).toBe("M_GUEST_ACCESS_FORBIDDEN");
  });
});
