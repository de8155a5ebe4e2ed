import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestServer, type TestServer } from "../helpers/server.ts";

type Who = { userId: string; deviceId: string; accessToken: string };
type Body = Record<string, unknown>;

const V3 = "/_matrix/client/v3";
const serverNameOf = (who: Who) => who.userId.slice(who.userId.indexOf(":") + 1);

/** Response shapes and codes of the rooms API as the spec and Synapse give them (issue #14). */
describe("rooms API shapes", () => {
  let s: TestServer;
  let alice: Who;
  let bob: Who;
  let roomId: string;

  const call = (who: Who, method: string, path: string, body?: unknown) =>
    s.call(method, `${V3}${path}`, { token: who.accessToken, body });
  const member = async (who: Who, room: string, userId: string) =>
    (await call(who, "GET", `/rooms/${room}/state/m.room.member/${encodeURIComponent(userId)}`)).body;

  beforeAll(async () => {
    s = await startTestServer();
    alice = await s.register("alice");
    bob = await s.register("bob");
    const created = await call(alice, "POST", "/createRoom", {
      preset: "public_chat",
      name: "shapes",
      room_alias_name: "shapes",
    });
    expect(created.status).toBe(200);
    roomId = created.body.room_id as string;
  });
  afterAll(async () => {
    await s.close();
  });

  it("GET /state/{type}/{stateKey}?format=event gives the whole event, else the content", async () => {
    const path = `/rooms/${roomId}/state/m.room.member/${encodeURIComponent(alice.userId)}`;
    const ev = await call(alice, "GET", `${path}?format=event`);
    expect(ev.status).toBe(200);
    expect(ev.body).toMatchObject({
      type: "m.room.member",
      state_key: alice.userId,
      sender: alice.userId,
      room_id: roomId,
      content: { membership: "join" },
    });
    expect(typeof ev.body.event_id).toBe("string");
    expect(typeof ev.body.origin_server_ts).toBe("number");
    for (const q of ["", "?format=content"]) {
      const c = await call(alice, "GET", `${path}${q}`);
      expect(c.status).toBe(200);
      expect(c.body.membership).toBe("join");
      expect(c.body.sender).toBeUndefined();
    }
    const bad = await call(alice, "GET", `${path}?format=pdu`);
    expect([bad.status, bad.body.errcode]).toEqual([400, "M_INVALID_PARAM"]);
    const missing = await call(
      alice,
      "GET",
      `/rooms/${roomId}/state/m.room.member/%40nobody%3Ax?format=event`,
    );
    expect([missing.status, missing.body.errcode]).toEqual([404, "M_NOT_FOUND"]);
  });

  it("serves the empty state key as /state/{type} and /state/{type}/, in both formats", async () => {
    for (const path of [`/rooms/${roomId}/state/m.room.name`, `/rooms/${roomId}/state/m.room.name/`]) {
      const c = await call(alice, "GET", path);
      expect([c.status, c.body]).toEqual([200, { name: "shapes" }]);
      const e = await call(alice, "GET", `${path}?format=event`);
      expect(e.status).toBe(200);
      expect(e.body).toMatchObject({ type: "m.room.name", state_key: "", content: { name: "shapes" } });
    }
    const put = await call(alice, "PUT", `/rooms/${roomId}/state/m.room.topic/`, { topic: "t" });
    expect(put.status).toBe(200);
    const topic = await call(alice, "GET", `/rooms/${roomId}/state/m.room.topic?format=event`);
    expect(topic.body).toMatchObject({ event_id: put.body.event_id, state_key: "", content: { topic: "t" } });
  });

  it("gives a former member the event as it was when they left, with format=event", async () => {
    const created = await call(alice, "POST", "/createRoom", { preset: "public_chat", name: "before" });
    const room = created.body.room_id as string;
    expect((await call(bob, "POST", `/join/${room}`, {})).status).toBe(200);
    expect((await call(bob, "POST", `/rooms/${room}/leave`, {})).status).toBe(200);
    expect((await call(alice, "PUT", `/rooms/${room}/state/m.room.name`, { name: "after" })).status).toBe(
      200,
    );
    const e = await call(bob, "GET", `/rooms/${room}/state/m.room.name?format=event`);
    expect(e.status).toBe(200);
    expect(e.body).toMatchObject({ type: "m.room.name", sender: alice.userId, content: { name: "before" } });
  });

  it("answers /joined_members with display_name and avatar_url, null when unset", async () => {
    const r = await call(alice, "GET", `/rooms/${roomId}/joined_members`);
    expect(r.status).toBe(200);
    expect(r.body.joined).toEqual({ [alice.userId]: { display_name: "alice", avatar_url: null } });
    expect(
      (
        await call(alice, "PUT", `/profile/${encodeURIComponent(alice.userId)}/avatar_url`, {
          avatar_url: "mxc://x/y",
        })
      ).status,
    ).toBe(200);
    const after = await call(alice, "GET", `/rooms/${roomId}/joined_members`);
    expect(after.body.joined).toEqual({ [alice.userId]: { display_name: "alice", avatar_url: "mxc://x/y" } });
  });

  it("keeps a join's custom content, reason and per-room name in the member event", async () => {
    const byId = await call(bob, "POST", `/join/${roomId}`, { foo: "bar", reason: "hi", nested: { a: 1 } });
    expect(byId.status).toBe(200);
    expect(await member(bob, roomId, bob.userId)).toEqual({
      membership: "join",
      displayname: "bob",
      foo: "bar",
      reason: "hi",
      nested: { a: 1 },
    });
    expect((await call(bob, "POST", `/rooms/${roomId}/leave`, {})).status).toBe(200);
    const alias = `#shapes:${serverNameOf(alice)}`;
    const byAlias = await call(bob, "POST", `/join/${encodeURIComponent(alias)}`, {
      foo: "baz",
      displayname: "Bobby",
      membership: "leave",
    });
    expect([byAlias.status, byAlias.body.room_id]).toEqual([200, roomId]);
    const content = await member(bob, roomId, bob.userId);
    expect(content).toEqual({ membership: "join", displayname: "Bobby", foo: "baz" });
    const bad = await call(bob, "POST", `/rooms/${roomId}/join`, { reason: 7 });
    expect([bad.status, bad.body.errcode]).toEqual([400, "M_BAD_JSON"]);
    // third_party_signed is the spec's (docs/rooms.md, third-party invites): a malformed one is 400.
    const badSigned = await call(bob, "POST", `/rooms/${roomId}/join`, { third_party_signed: { x: 1 } });
    expect(badSigned.status).toBe(400);
    // PUT /state/m.room.member/{me} keeps what it is given, too.
    const put = await call(
      bob,
      "PUT",
      `/rooms/${roomId}/state/m.room.member/${encodeURIComponent(bob.userId)}`,
      {
        membership: "join",
        displayname: "bob",
        custom: true,
      },
    );
    expect(put.status).toBe(200);
    expect(await member(bob, roomId, bob.userId)).toEqual({
      membership: "join",
      displayname: "bob",
      custom: true,
    });
  });

  it("takes null since, limit and filter in POST /publicRooms, and this server's name", async () => {
    expect(
      (await call(alice, "PUT", `/directory/list/room/${roomId}`, { visibility: "public" })).status,
    ).toBe(200);
    const serverName = encodeURIComponent(serverNameOf(alice));
    for (const path of ["/publicRooms", `/publicRooms?server=${serverName}`]) {
      const r = await call(alice, "POST", path, { since: null, limit: null, filter: null, server: null });
      expect(r.status).toBe(200);
      expect((r.body.chunk as Body[]).map((c) => c.room_id)).toContain(roomId);
    }
    const page = await call(alice, "POST", "/publicRooms", {
      limit: 1,
      since: null,
      filter: { generic_search_term: null },
    });
    expect(page.status).toBe(200);
    expect((page.body.chunk as Body[]).length).toBe(1);
    const get = await call(alice, "GET", `/publicRooms?server=${serverName}`);
    expect(get.status).toBe(200);
    const other = await call(alice, "POST", "/publicRooms?server=elsewhere.example", {});
    expect(other.status).toBe(404);
    const bad = await call(alice, "POST", "/publicRooms", { limit: "ten" });
    expect([bad.status, bad.body.errcode]).toEqual([400, "M_BAD_JSON"]);
  });
  it("serves the r0 POST forms of send and redact, without a transaction id", async () => {
    const first = await call(alice, "POST", `/rooms/${roomId}/send/m.room.message`, {
      msgtype: "m.text",
      body: "a",
    });
    const second = await call(alice, "POST", `/rooms/${roomId}/send/m.room.message`, {
      msgtype: "m.text",
      body: "a",
    });
    expect([first.status, second.status]).toEqual([200, 200]);
    expect(first.body.event_id).not.toBe(second.body.event_id);
    const target = encodeURIComponent(first.body.event_id as string);
    const red = await call(alice, "POST", `/rooms/${roomId}/redact/${target}`, { reason: "oops" });
    expect(red.status).toBe(200);
    const ev = await call(alice, "GET", `/rooms/${roomId}/event/${target}`);
    expect(ev.body.content).toEqual({});
    expect(
      (await call(alice, "GET", `/rooms/${roomId}/event/${encodeURIComponent(red.body.event_id as string)}`))
        .body,
    ).toMatchObject({ type: "m.room.redaction", content: { reason: "oops" } });
  });

  it("refuses with 400 to redact, in one room, an event of another room", async () => {
    const other = (await call(bob, "POST", "/createRoom", { preset: "private_chat" })).body.room_id as string;
    const sent = await call(alice, "PUT", `/rooms/${roomId}/send/m.room.message/other-room`, {
      msgtype: "m.text",
      body: "keep",
    });
    const eventId = encodeURIComponent(sent.body.event_id as string);
    const r = await call(bob, "PUT", `/rooms/${other}/redact/${eventId}/x1`, {});
    expect([r.status, r.body.errcode]).toEqual([400, "M_INVALID_PARAM"]);
    const missing = await call(bob, "PUT", `/rooms/${other}/redact/${encodeURIComponent("$nope")}/x2`, {});
    expect([missing.status, missing.body.errcode]).toEqual([404, "M_NOT_FOUND"]);
    expect((await call(alice, "GET", `/rooms/${roomId}/event/${eventId}`)).body.content).toEqual({
      msgtype: "m.text",
      body: "keep",
    });
  });
});
