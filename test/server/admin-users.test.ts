import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AuditRepository } from "../../server/admin/audit.repository.ts";
import type { AdminOwnTables } from "../../server/admin/tables.ts";
import { startAdminServer } from "../helpers/admin.ts";
import type { TestServer } from "../helpers/server.ts";

const PW = "correct horse battery staple";
const A = "/_synapse/admin";

describe("admin API: users", () => {
  let s: TestServer;
  let admin: string;
  let adminId: string;
  const enc = encodeURIComponent;

  beforeAll(async () => {
    ({ s, admin, adminId } = await startAdminServer());
  });
  afterAll(async () => {
    await s.close();
  });

  const call = (method: string, path: string, body?: unknown, token = admin) =>
    s.call(method, A + path, { token, body });

  it("refuses non-admins with 403 and records every call in the audit log", async () => {
    const u = await s.register("plain");
    const r = await call("GET", "/v2/users", undefined, u.accessToken);
    expect(r.status).toBe(403);
    expect(r.body.errcode).toBe("M_FORBIDDEN");
    expect((await s.call("GET", `${A}/v2/users`)).status).toBe(401);
    expect((await call("GET", "/v2/users")).status).toBe(200);
    const audit = new AuditRepository(s.ctx.databases.get<AdminOwnTables>("messaging").db);
    const [last, refused] = await audit.recent(2);
    expect(last).toMatchObject({ userId: adminId, method: "GET", path: `${A}/v2/users`, status: 200 });
    expect(refused).toMatchObject({ userId: u.userId, status: 403 });
  });

  it("answers server_version without a token", async () => {
    const r = await s.call("GET", `${A}/v1/server_version`);
    expect(r.status).toBe(200);
    expect(r.body.server_version).toMatch(/^Nova /);
  });

  it("creates, queries and modifies accounts with PUT/GET v2/users/{userId}", async () => {
    const id = "@carol:localhost";
    const created = await call("PUT", `/v2/users/${enc(id)}`, {
      password: PW,
      displayname: "Carol",
      admin: false,
    });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ name: id, displayname: "Carol", admin: false, deactivated: false });
    const login = await s.call("POST", "/_matrix/client/v3/login", {
      body: { type: "m.login.password", identifier: { type: "m.id.user", user: "carol" }, password: PW },
    });
    expect(login.status).toBe(200);
    const modified = await call("PUT", `/v2/users/${enc(id)}`, { displayname: "C.", admin: true });
    expect(modified.status).toBe(200);
    expect(modified.body).toMatchObject({ displayname: "C.", admin: true });
    const got = await call("GET", `/v2/users/${enc(id)}`);
    expect(got.body).toMatchObject({ name: id, displayname: "C.", admin: true, shadow_banned: false });
    expect(typeof got.body.last_seen_ts).toBe("number");
    expect((await call("GET", `/v2/users/${enc("@nobody:localhost")}`)).status).toBe(404);
    expect((await call("GET", `/v2/users/${enc("@x:elsewhere.org")}`)).status).toBe(400);
    expect((await call("PUT", `/v2/users/${enc(id)}`, { threepids: [{ medium: "email" }] })).status).toBe(
      400,
    );
    // Deactivating through PUT, then reactivating needs a password.
    expect((await call("PUT", `/v2/users/${enc(id)}`, { deactivated: true })).body.deactivated).toBe(true);
    expect((await call("PUT", `/v2/users/${enc(id)}`, { deactivated: false })).status).toBe(400);
    const back = await call("PUT", `/v2/users/${enc(id)}`, { deactivated: false, password: "new pass 1" });
    expect(back.body.deactivated).toBe(false);
    const relogin = await s.call("POST", "/_matrix/client/v3/login", {
      body: {
        type: "m.login.password",
        identifier: { type: "m.id.user", user: "carol" },
        password: "new pass 1",
      },
    });
    expect(relogin.status).toBe(200);
  });

  it("lists users with paging and the name, guests, deactivated and admins filters", async () => {
    for (const n of ["lista", "listb", "listc"]) await s.register(n);
    await call("POST", `/v1/deactivate/${enc("@listc:localhost")}`, {});
    const page1 = await call("GET", "/v2/users?name=list&limit=1");
    expect(page1.body.total).toBe(2);
    expect((page1.body.users as { name: string }[]).map((u) => u.name)).toEqual(["@lista:localhost"]);
    expect(page1.body.next_token).toBe("1");
    const page2 = await call("GET", "/v2/users?name=list&limit=1&from=1");
    expect((page2.body.users as { name: string }[]).map((u) => u.name)).toEqual(["@listb:localhost"]);
    expect(page2.body.next_token).toBeUndefined();
    const withDeactivated = await call("GET", "/v2/users?name=list&deactivated=true&dir=b");
    expect((withDeactivated.body.users as { name: string }[]).map((u) => u.name)).toEqual([
      "@listc:localhost",
      "@listb:localhost",
      "@lista:localhost",
    ]);
    const admins = await call("GET", "/v2/users?admins=true");
    expect((admins.body.users as { name: string; admin: boolean }[]).every((u) => u.admin)).toBe(true);
    expect((admins.body.users as { name: string }[]).map((u) => u.name)).toContain(adminId);
    const guest = await s.call("POST", "/_matrix/client/v3/register?kind=guest", { body: {} });
    expect(guest.status).toBe(200);
    const noGuests = await call("GET", "/v2/users?guests=false&limit=1000");
    expect((noGuests.body.users as { name: string }[]).map((u) => u.name)).not.toContain(guest.body.user_id);
    const all = await call("GET", "/v2/users?limit=1000");
    expect((all.body.users as { name: string }[]).map((u) => u.name)).toContain(guest.body.user_id);
    expect((await call("GET", "/v2/users?guests=maybe")).status).toBe(400);
    expect((await call("GET", "/v2/users?order_by=password")).status).toBe(400);
  });

  it("deactivates with erase: the user leaves rooms, cannot log in, the profile is cleared", async () => {
    const owner = await s.register();
    const dan = await s.register("dan");
    const room = await s.call("POST", "/_matrix/client/v3/createRoom", {
      token: owner.accessToken,
      body: { preset: "public_chat" },
    });
    const roomId = room.body.room_id as string;
    await s.call("POST", `/_matrix/client/v3/rooms/${enc(roomId)}/join`, {
      token: dan.accessToken,
      body: {},
    });
    expect(await s.rooms.membership(roomId, dan.userId)).toBe("join");
    const r = await call("POST", `/v1/deactivate/${enc(dan.userId)}`, { erase: true });
    expect(r.status).toBe(200);
    expect(r.body).toEqual({ id_server_unbind_result: "success" });
    expect(await s.rooms.membership(roomId, dan.userId)).toBe("leave");
    const who = await s.call("GET", "/_matrix/client/v3/account/whoami", { token: dan.accessToken });
    expect(who.status).toBe(401);
    const details = await call("GET", `/v2/users/${enc(dan.userId)}`);
    expect(details.body).toMatchObject({ deactivated: true, erased: true, displayname: null });
  });

  it("resets a password, logging out devices unless told not to", async () => {
    const eve = await s.register("eve");
    const keep = await call("POST", `/v1/reset_password/${enc(eve.userId)}`, {
      new_password: "second pw",
      logout_devices: false,
    });
    expect(keep.status).toBe(200);
    expect(
      (await s.call("GET", "/_matrix/client/v3/account/whoami", { token: eve.accessToken })).status,
    ).toBe(200);
    await call("POST", `/v1/reset_password/${enc(eve.userId)}`, { new_password: "third pw" });
    expect(
      (await s.call("GET", "/_matrix/client/v3/account/whoami", { token: eve.accessToken })).status,
    ).toBe(401);
    const login = await s.call("POST", "/_matrix/client/v3/login", {
      body: {
        type: "m.login.password",
        identifier: { type: "m.id.user", user: "eve" },
        password: "third pw",
      },
    });
    expect(login.status).toBe(200);
    expect((await call("POST", `/v1/reset_password/${enc(eve.userId)}`, {})).status).toBe(400);
  });

  it("shows whois, lists and deletes devices", async () => {
    const fay = await s.register("fay");
    const second = await s.call("POST", "/_matrix/client/v3/login", {
      body: { type: "m.login.password", identifier: { type: "m.id.user", user: "fay" }, password: PW },
    });
    const third = await s.call("POST", "/_matrix/client/v3/login", {
      body: { type: "m.login.password", identifier: { type: "m.id.user", user: "fay" }, password: PW },
    });
    const whois = await call("GET", `/v1/whois/${enc(fay.userId)}`);
    expect(whois.body.user_id).toBe(fay.userId);
    expect(Object.keys(whois.body.devices as object).sort()).toEqual(
      [fay.deviceId, second.body.device_id, third.body.device_id].sort(),
    );
    const list = await call("GET", `/v2/users/${enc(fay.userId)}/devices`);
    expect(list.body.total).toBe(3);
    expect((list.body.devices as { user_id: string }[])[0]!.user_id).toBe(fay.userId);
    const one = await call("GET", `/v2/users/${enc(fay.userId)}/devices/${fay.deviceId}`);
    expect(one.body.device_id).toBe(fay.deviceId);
    expect((await call("DELETE", `/v2/users/${enc(fay.userId)}/devices/${fay.deviceId}`)).status).toBe(200);
    expect(
      (await s.call("GET", "/_matrix/client/v3/account/whoami", { token: fay.accessToken })).status,
    ).toBe(401);
    await call("POST", `/v2/users/${enc(fay.userId)}/delete_devices`, {
      devices: [second.body.device_id, "NOSUCHDEVICE"],
    });
    const left = await call("GET", `/v2/users/${enc(fay.userId)}/devices`);
    expect((left.body.devices as { device_id: string }[]).map((d) => d.device_id)).toEqual([
      third.body.device_id,
    ]);
  });

  it("reads and sets the admin flag; an admin may not demote themself", async () => {
    const gus = await s.register("gus");
    expect((await call("GET", `/v1/users/${enc(gus.userId)}/admin`)).body).toEqual({ admin: false });
    expect((await call("PUT", `/v1/users/${enc(gus.userId)}/admin`, { admin: true })).status).toBe(200);
    expect((await call("GET", `/v1/users/${enc(gus.userId)}/admin`)).body).toEqual({ admin: true });
    // The new admin's own token now reaches the admin API.
    expect((await call("GET", "/v2/users", undefined, gus.accessToken)).status).toBe(200);
    const self = await call("PUT", `/v1/users/${enc(adminId)}/admin`, { admin: false });
    expect(self.status).toBe(400);
  });

  it("shadow-bans: the user's sends and invites succeed for them and reach nobody", async () => {
    const owner = await s.register();
    const troll = await s.register("troll");
    const victim = await s.register("victim");
    const room = await s.call("POST", "/_matrix/client/v3/createRoom", {
      token: owner.accessToken,
      body: { preset: "public_chat" },
    });
    const roomId = room.body.room_id as string;
    await s.call("POST", `/_matrix/client/v3/rooms/${enc(roomId)}/join`, {
      token: troll.accessToken,
      body: {},
    });
    expect((await call("POST", `/v1/users/${enc(troll.userId)}/shadow_ban`, {})).status).toBe(200);
    const sent = await s.call("PUT", `/_matrix/client/v3/rooms/${enc(roomId)}/send/m.room.message/t1`, {
      token: troll.accessToken,
      body: { msgtype: "m.text", body: "spam" },
    });
    expect(sent.status).toBe(200);
    expect(sent.body.event_id).toMatch(/^\$[A-Za-z0-9_-]{43}$/);
    const invite = await s.call("POST", `/_matrix/client/v3/rooms/${enc(roomId)}/invite`, {
      token: troll.accessToken,
      body: { user_id: victim.userId },
    });
    expect(invite.status).toBe(200);
    expect(await s.rooms.membership(roomId, victim.userId)).toBeNull();
    const msgs = await s.call("GET", `/_matrix/client/v3/rooms/${enc(roomId)}/messages?dir=b&limit=50`, {
      token: owner.accessToken,
    });
    const bodies = (msgs.body.chunk as { content: { body?: string } }[]).map((e) => e.content.body);
    expect(bodies).not.toContain("spam");
    const fetched = await s.call(
      "GET",
      `/_matrix/client/v3/rooms/${enc(roomId)}/event/${enc(sent.body.event_id as string)}`,
      { token: owner.accessToken },
    );
    expect(fetched.status).toBe(404);
    expect((await call("GET", `/v2/users/${enc(troll.userId)}`)).body.shadow_banned).toBe(true);
    await call("DELETE", `/v1/users/${enc(troll.userId)}/shadow_ban`);
    const real = await s.call("PUT", `/_matrix/client/v3/rooms/${enc(roomId)}/send/m.room.message/t2`, {
      token: troll.accessToken,
      body: { msgtype: "m.text", body: "hello" },
    });
    const seen = await s.call(
      "GET",
      `/_matrix/client/v3/rooms/${enc(roomId)}/event/${enc(real.body.event_id as string)}`,
      { token: owner.accessToken },
    );
    expect(seen.status).toBe(200);
  });
});
