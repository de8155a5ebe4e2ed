import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestServer, type TestServer } from "../helpers/server.ts";

/** Room upgrades (spec "Room Upgrades"): POST /rooms/{roomId}/upgrade. */
describe("room upgrades", () => {
  let s: TestServer;
  let alice: { userId: string; accessToken: string };

  const C = "/_matrix/client/v3";
  const create = async (body: Record<string, unknown> = {}, token = alice.accessToken) => {
    const r = await s.call("POST", `${C}/createRoom`, { token, body });
    expect(r.status).toBe(200);
    return r.body.room_id as string;
  };
  const upgrade = (roomId: string, newVersion: string, token = alice.accessToken) =>
    s.call("POST", `${C}/rooms/${encodeURIComponent(roomId)}/upgrade`, {
      token,
      body: { new_version: newVersion },
    });
  const upgraded = async (roomId: string, newVersion = "11", token = alice.accessToken) => {
    const r = await upgrade(roomId, newVersion, token);
    expect(r.status).toBe(200);
    return r.body.replacement_room as string;
  };
  const getState = async (roomId: string, type: string, stateKey = "", format = "") => {
    const r = await s.call(
      "GET",
      `${C}/rooms/${roomId}/state/${type}/${encodeURIComponent(stateKey)}${format ? `?format=${format}` : ""}`,
      { token: alice.accessToken },
    );
    return r.status === 200 ? r.body : null;
  };
  const putState = async (roomId: string, type: string, content: Record<string, unknown>, stateKey = "") => {
    const r = await s.call("PUT", `${C}/rooms/${roomId}/state/${type}/${encodeURIComponent(stateKey)}`, {
      token: alice.accessToken,
      body: content,
    });
    expect(r.status, `${type} ${JSON.stringify(r.body)}`).toBe(200);
    return r.body.event_id as string;
  };

  beforeAll(async () => {
    s = await startTestServer();
    alice = await s.register();
  });
  afterAll(async () => {
    await s.close();
  });

  it("tombstones the old room and creates the replacement with its predecessor", async () => {
    const old = await create({ room_version: "10" });
    const since = (await s.call("GET", `${C}/sync?timeout=0`, { token: alice.accessToken })).body.next_batch;
    const replacement = await upgraded(old, "11");
    expect(replacement).not.toBe(old);

    const tombstone = await getState(old, "m.room.tombstone", "", "event");
    expect(tombstone?.content).toMatchObject({ replacement_room: replacement });
    expect(tombstone?.content).toHaveProperty("body", "This room has been replaced");
    const createEv = await getState(replacement, "m.room.create", "", "event");
    expect(createEv?.content).toEqual({
      room_version: "11",
      predecessor: { room_id: old, event_id: tombstone?.event_id },
    });
    expect(createEv?.sender).toBe(alice.userId);
    expect((await getState(replacement, "m.room.member", alice.userId))?.membership).toBe("join");

    // The upgrader's next sync has the new room, its create event first.
    const sync = await s.call("GET", `${C}/sync?timeout=0&since=${encodeURIComponent(String(since))}`, {
      token: alice.accessToken,
    });
    const join = (sync.body.rooms as { join: Record<string, { timeline: { events: { type: string }[] } }> })
      .join;
    expect(join[replacement]!.timeline.events[0]!.type).toBe("m.room.create");
    expect(join[old]!.timeline.events.map((e) => e.type)).toContain("m.room.tombstone");
  });

  it("keeps creator in m.room.create for versions before 11, and m.federate and the room type", async () => {
    const old = await create({
      room_version: "11",
      creation_content: { "m.federate": false, type: "m.space" },
    });
    const child = await create();
    await putState(old, "m.space.child", { via: ["localhost"] }, child);
    const replacement = await upgraded(old, "10");
    expect(await getState(replacement, "m.room.create")).toMatchObject({
      room_version: "10",
      creator: alice.userId,
      "m.federate": false,
      type: "m.space",
    });
    expect(await getState(replacement, "m.space.child", child)).toEqual({ via: ["localhost"] });
  });

  it("copies the important state and the power levels, raising the upgrader only while copying", async () => {
    const old = await create({ preset: "private_chat" });
    const copied: Record<string, Record<string, unknown>> = {
      "m.room.topic": { topic: "topic" },
      "m.room.name": { name: "name" },
      "m.room.join_rules": { join_rule: "public" },
      "m.room.guest_access": { guest_access: "forbidden" },
      "m.room.history_visibility": { history_visibility: "joined" },
      "m.room.avatar": { url: "mxc://localhost/something" },
      "m.room.encryption": { algorithm: "m.megolm.v1.aes-sha2" },
      "m.room.server_acl": { allow: ["*"], allow_ip_literals: false, deny: ["*.evil.com", "evil.com"] },
    };
    for (const [type, content] of Object.entries(copied)) await putState(old, type, content);
    // The upgrader keeps the power to upgrade but not to set any of that state.
    const pl = (await getState(old, "m.room.power_levels")) as Record<string, Record<string, number>>;
    const events: Record<string, number> = { ...pl.events, "m.room.tombstone": 50 };
    for (const type of Object.keys(copied)) events[type] = 80;
    const levels = { ...pl, events, users: { ...pl.users, [alice.userId]: 50, "@test:xyz": 40 } };
    await putState(old, "m.room.power_levels", levels);

    const replacement = await upgraded(old);
    for (const [type, content] of Object.entries(copied)) {
      expect(await getState(replacement, type), type).toEqual(content);
    }
    expect(await getState(replacement, "m.room.power_levels")).toEqual(levels);
    const messages = await s.call("GET", `${C}/rooms/${replacement}/messages?dir=f&limit=50`, {
      token: alice.accessToken,
    });
    const pls = (
      messages.body.chunk as { type: string; content: { users: Record<string, number> } }[]
    ).filter((e) => e.type === "m.room.power_levels");
    expect(pls.map((e) => e.content.users[alice.userId])).toEqual([100, 50]);
  });

  it("copies bans, and restricts the old room's power levels", async () => {
    const old = await create();
    const bob = await s.register();
    await s.call("POST", `${C}/rooms/${old}/ban`, {
      token: alice.accessToken,
      body: { user_id: bob.userId, reason: "spam" },
    });
    const replacement = await upgraded(old);
    expect(await getState(replacement, "m.room.member", bob.userId)).toEqual({
      membership: "ban",
      reason: "spam",
    });
    expect(await getState(old, "m.room.power_levels")).toMatchObject({ events_default: 50, invite: 50 });
    const join = await s.call("POST", `${C}/join/${replacement}`, { token: bob.accessToken, body: {} });
    expect(join.status).toBe(403);
  });

  it("restricts the old room above users_default when that is 50 or more", async () => {
    const old = await create();
    const pl = (await getState(old, "m.room.power_levels")) as Record<string, unknown>;
    await putState(old, "m.room.power_levels", { ...pl, users_default: 80 });
    await upgraded(old);
    expect(await getState(old, "m.room.power_levels")).toMatchObject({ events_default: 81, invite: 81 });
  });

  it("moves the local aliases, the canonical alias and the directory listing", async () => {
    const old = await create({ room_alias_name: "upgrade-main", visibility: "public" });
    const second = "#upgrade-second:localhost";
    const put = await s.call("PUT", `${C}/directory/room/${encodeURIComponent(second)}`, {
      token: alice.accessToken,
      body: { room_id: old },
    });
    expect(put.status).toBe(200);
    await putState(old, "m.room.canonical_alias", {
      alias: "#upgrade-main:localhost",
      alt_aliases: [second],
    });

    const replacement = await upgraded(old);
    for (const alias of ["#upgrade-main:localhost", second]) {
      const r = await s.call("GET", `${C}/directory/room/${encodeURIComponent(alias)}`, {});
      expect(r.body.room_id, alias).toBe(replacement);
    }
    expect(await getState(old, "m.room.canonical_alias")).toEqual({});
    expect(await getState(replacement, "m.room.canonical_alias")).toEqual({
      alias: "#upgrade-main:localhost",
      alt_aliases: [second],
    });
    const vis = async (roomId: string) =>
      (await s.call("GET", `${C}/directory/list/room/${roomId}`, {})).body.visibility;
    expect(await vis(replacement)).toBe("public");
    expect(await vis(old)).toBe("private");
  });

  it("copies local members' push rules, tags and m.direct entry for the room", async () => {
    const old = await create({ preset: "public_chat" });
    const bob = await s.register();
    expect((await s.call("POST", `${C}/join/${old}`, { token: bob.accessToken, body: {} })).status).toBe(200);
    const rule = await s.call("PUT", `${C}/pushrules/global/room/${encodeURIComponent(old)}`, {
      token: bob.accessToken,
      body: { actions: ["notify"] },
    });
    expect(rule.status).toBe(200);
    const tag = await s.call("PUT", `${C}/user/${alice.userId}/rooms/${old}/tags/u.work`, {
      token: alice.accessToken,
      body: { order: 0.5 },
    });
    expect(tag.status).toBe(200);
    await s.call("PUT", `${C}/user/${alice.userId}/account_data/m.direct`, {
      token: alice.accessToken,
      body: { [bob.userId]: [old] },
    });

    const replacement = await upgraded(old);
    const rules = await s.call("GET", `${C}/pushrules/`, { token: bob.accessToken });
    const room = (rules.body.global as { room: { rule_id: string; actions: unknown[] }[] }).room;
    expect(room.find((r) => r.rule_id === replacement)?.actions).toEqual(["notify"]);
    expect(room.some((r) => r.rule_id === old)).toBe(true);
    const tags = await s.call("GET", `${C}/user/${alice.userId}/rooms/${replacement}/tags`, {
      token: alice.accessToken,
    });
    expect(tags.body.tags).toEqual({ "u.work": { order: 0.5 } });
    const direct = await s.call("GET", `${C}/user/${alice.userId}/account_data/m.direct`, {
      token: alice.accessToken,
    });
    expect(direct.body).toEqual({ [bob.userId]: [old, replacement] });
  });

  it("refuses unknown versions (400), users without the power (403), and unknown rooms (404)", async () => {
    const old = await create({ preset: "public_chat" });
    const bad = await upgrade(old, "my_bad_version");
    expect(bad.status).toBe(400);
    expect(bad.body.errcode).toBe("M_UNSUPPORTED_ROOM_VERSION");

    const bob = await s.register();
    expect((await s.call("POST", `${C}/join/${old}`, { token: bob.accessToken, body: {} })).status).toBe(200);
    const weak = await upgrade(old, "11", bob.accessToken);
    expect(weak.status).toBe(403);
    expect(weak.body.errcode).toBe("M_FORBIDDEN");
    const carol = await s.register();
    expect((await upgrade(old, "11", carol.accessToken)).status).toBe(403);
    expect(await getState(old, "m.room.tombstone")).toBeNull();

    const bogus = await upgrade("!fail:unknown", "11");
    expect(bogus.status).toBe(404);
    expect(bogus.body.errcode).toBe("M_NOT_FOUND");
    const noBody = await s.call("POST", `${C}/rooms/${old}/upgrade`, { token: alice.accessToken, body: {} });
    expect(noBody.status).toBe(400);
  });

  it("concurrent upgrades of one room by the upgrader make one replacement", async () => {
    const old = await create();
    const [a, b] = await Promise.all([upgrade(old, "11"), upgrade(old, "11")]);
    expect(a.status).toBe(200);
    expect(b.body).toEqual(a.body);
    expect((await getState(old, "m.room.tombstone"))?.replacement_room).toBe(a.body.replacement_room);
  });

  it("refuses a tombstone that points to its own room", async () => {
    const old = await create();
    const r = await s.call("PUT", `${C}/rooms/${old}/state/m.room.tombstone/`, {
      token: alice.accessToken,
      body: { body: "loop", replacement_room: old },
    });
    expect(r.status).toBe(400);
    const send = await s.call("PUT", `${C}/rooms/${old}/send/m.room.tombstone/t1`, {
      token: alice.accessToken,
      body: { replacement_room: old },
    });
    expect(send.status).toBe(400);
  });
});
