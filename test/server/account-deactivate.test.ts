import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestServer, type TestServer } from "../helpers/server.ts";

const PW = "correct horse battery staple";

describe("account deactivation", () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer();
  });
  afterAll(async () => {
    await s.close();
  });

  const deactivate = (token: string, body: Record<string, unknown>) =>
    s.call("POST", "/_matrix/client/v3/account/deactivate", { token, body });

  it("asks for the password, refuses a wrong one, and then deactivates", async () => {
    const u = await s.register("dora");
    const first = await deactivate(u.accessToken, {});
    expect(first.status).toBe(401);
    expect(first.body.flows).toEqual([{ stages: ["m.login.password"] }]);
    const wrong = await deactivate(u.accessToken, {
      auth: { type: "m.login.password", session: first.body.session, user: u.userId, password: "nope" },
    });
    expect(wrong.status).toBe(401);
    expect(wrong.body.errcode).toBe("M_FORBIDDEN");
    const ok = await deactivate(u.accessToken, {
      id_server: "id.example.org",
      auth: {
        type: "m.login.password",
        identifier: { type: "m.id.user", user: u.userId },
        password: PW,
      },
    });
    expect(ok.status).toBe(200);
    expect(ok.body).toEqual({ id_server_unbind_result: "no-support" });

    const who = await s.call("GET", "/_matrix/client/v3/account/whoami", { token: u.accessToken });
    expect(who.status).toBe(401);
    expect(who.body.errcode).toBe("M_UNKNOWN_TOKEN");
    const login = await s.call("POST", "/_matrix/client/v3/login", {
      body: { type: "m.login.password", identifier: { type: "m.id.user", user: "dora" }, password: PW },
    });
    expect(login.status).toBe(403);
    expect(login.body.errcode).toBe("M_USER_DEACTIVATED");
    const again = await s.call("POST", "/_matrix/client/v3/register", {
      body: { username: "dora", password: PW, auth: { type: "m.login.dummy" } },
    });
    expect(again.status).toBe(400);
    expect(again.body.errcode).toBe("M_USER_IN_USE");
    expect((await s.call("GET", "/_matrix/client/v3/register/available?username=dora")).body.errcode).toBe(
      "M_USER_IN_USE",
    );
    expect((await s.identity.listDevices(u.userId)).length).toBe(0);
  });

  it("leaves joined rooms and rejects invites; erase clears the profile", async () => {
    const owner = await s.register();
    const u = await s.register("erin");
    await s.call("PUT", `/_matrix/client/v3/profile/${u.userId}/displayname`, {
      token: u.accessToken,
      body: { displayname: "Erin" },
    });
    const joined = await s.call("POST", "/_matrix/client/v3/createRoom", {
      token: owner.accessToken,
      body: { preset: "public_chat" },
    });
    const roomA = joined.body.room_id as string;
    expect(
      (await s.call("POST", `/_matrix/client/v3/join/${encodeURIComponent(roomA)}`, { token: u.accessToken }))
        .status,
    ).toBe(200);
    const invited = await s.call("POST", "/_matrix/client/v3/createRoom", {
      token: owner.accessToken,
      body: { invite: [u.userId] },
    });
    const roomB = invited.body.room_id as string;
    expect(await s.rooms.membership(roomB, u.userId)).toBe("invite");

    const ok = await deactivate(u.accessToken, {
      erase: true,
      auth: { type: "m.login.password", user: "erin", password: PW },
    });
    expect(ok.status).toBe(200);
    expect(await s.rooms.membership(roomA, u.userId)).toBe("leave");
    expect(await s.rooms.membership(roomB, u.userId)).toBe("leave");
    const user = await s.identity.getUser(u.userId);
    expect(user).toMatchObject({ deactivated: true, displayname: null, avatarUrl: null });
  });

  it("an erased user's earlier events are redacted for those who joined after, not for original members", async () => {
    const owner = await s.register();
    const member = await s.register();
    const joiner = await s.register();
    const created = await s.call("POST", "/_matrix/client/v3/createRoom", {
      token: owner.accessToken,
      body: { preset: "public_chat" },
    });
    const roomId = created.body.room_id as string;
    const room = `/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}`;
    await s.call("POST", `${room}/join`, { token: member.accessToken, body: {} });
    const sent = await s.call("PUT", `${room}/send/m.room.message/t1`, {
      token: member.accessToken,
      body: { msgtype: "m.text", body: "body1" },
    });
    const eventId = sent.body.event_id as string;
    // Read before the erasure: the "not erased" answer must not outlive the deactivation.
    await s.call("GET", `${room}/event/${encodeURIComponent(eventId)}`, { token: owner.accessToken });
    const gone = await deactivate(member.accessToken, {
      erase: true,
      auth: { type: "m.login.password", user: member.userId, password: PW },
    });
    expect(gone.status).toBe(200);
    await s.call("POST", `${room}/join`, { token: joiner.accessToken, body: {} });

    const contentFor = async (token: string) => {
      const one = await s.call("GET", `${room}/event/${encodeURIComponent(eventId)}`, { token });
      const page = await s.call("GET", `${room}/messages?dir=b&limit=50`, { token });
      const inPage = (page.body.chunk as { event_id: string; content: unknown }[]).find(
        (e) => e.event_id === eventId,
      );
      return [one.body.content, inPage?.content];
    };
    expect(await contentFor(owner.accessToken)).toEqual([
      { msgtype: "m.text", body: "body1" },
      { msgtype: "m.text", body: "body1" },
    ]);
    expect(await contentFor(joiner.accessToken)).toEqual([{}, {}]);

    // /sync applies the same rule: the joiner's initial sync shows the event redacted, the owner's not.
    const inSync = async (token: string) => {
      const r = await s.call("GET", "/_matrix/client/v3/sync", { token });
      const rooms = r.body.rooms as {
        join: Record<string, { timeline: { events: { event_id: string; content: unknown }[] } }>;
      };
      return rooms.join[roomId]!.timeline.events.find((e) => e.event_id === eventId)?.content;
    };
    expect(await inSync(owner.accessToken)).toEqual({ msgtype: "m.text", body: "body1" });
    expect(await inSync(joiner.accessToken)).toEqual({});
  });

  it("a malformed body is a 400", async () => {
    const u = await s.register();
    const r = await deactivate(u.accessToken, { erase: "yes" });
    expect(r.status).toBe(400);
    expect(r.body.errcode).toBe("M_BAD_JSON");
  });

  it("a UIA session of another operation is refused (403)", async () => {
    const u = await s.register();
    for (const device_id of ["first_device", "another_device"]) {
      const login = await s.call("POST", "/_matrix/client/v3/login", {
        body: { type: "m.login.password", user: u.userId, password: PW, device_id },
      });
      expect(login.status).toBe(200);
    }
    const started = await s.call("DELETE", "/_matrix/client/v3/devices/first_device", {
      token: u.accessToken,
      body: {},
    });
    expect(started.status).toBe(401);
    const other = await s.call("DELETE", "/_matrix/client/v3/devices/another_device", {
      token: u.accessToken,
      body: {
        auth: { type: "m.login.password", session: started.body.session, user: u.userId, password: PW },
      },
    });
    expect(other.status).toBe(403);
    expect(other.body.errcode).toBe("M_FORBIDDEN");
  });

  it("registration keeps the first request's parameters across stages", async () => {
    const first = await s.call("POST", "/_matrix/client/v3/register", {
      body: { username: "frank", password: PW, initial_device_display_name: "phone" },
    });
    expect(first.status).toBe(401);
    const done = await s.call("POST", "/_matrix/client/v3/register", {
      body: { auth: { type: "m.login.dummy", session: first.body.session } },
    });
    expect(done.status).toBe(200);
    expect(done.body.user_id).toBe("@frank:localhost");
    const devices = await s.identity.listDevices("@frank:localhost");
    expect(devices.map((d) => d.displayName)).toEqual(["phone"]);
  });
});
