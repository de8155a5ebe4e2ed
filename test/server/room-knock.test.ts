import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestServer, type TestServer } from "../helpers/server.ts";

/** Knocking (spec "Knocking on rooms"): POST /knock, rooms.knock in /sync, accept, reject, rescind. */
describe("knocking", () => {
  let s: TestServer;
  let admin: { userId: string; accessToken: string };

  beforeAll(async () => {
    s = await startTestServer();
    admin = await s.register();
  });
  afterAll(async () => {
    await s.close();
  });

  const C = "/_matrix/client/v3";
  const room = async (joinRule: string, extra: Record<string, unknown> = {}) => {
    const r = await s.call("POST", `${C}/createRoom`, {
      token: admin.accessToken,
      body: {
        preset: "private_chat",
        name: "Knock here",
        initial_state: [{ type: "m.room.join_rules", state_key: "", content: { join_rule: joinRule } }],
        ...extra,
      },
    });
    expect(r.status).toBe(200);
    return r.body.room_id as string;
  };
  const knock = (token: string, target: string, body: Record<string, unknown> = {}) =>
    s.call("POST", `${C}/knock/${encodeURIComponent(target)}`, { token, body });
  const sync = (token: string, since?: string) =>
    s.call("GET", `${C}/sync?timeout=0${since ? `&since=${encodeURIComponent(since)}` : ""}`, { token });
  const membership = async (roomId: string, userId: string) => {
    const r = await s.call("GET", `${C}/rooms/${roomId}/state/m.room.member/${encodeURIComponent(userId)}`, {
      token: admin.accessToken,
    });
    return r.status === 200 ? (r.body.membership as string) : null;
  };
  type Rooms = Record<string, Record<string, { knock_state?: { events: Record<string, unknown>[] } }>>;

  it("knocks on a knock room; the knocker sees it under rooms.knock with stripped state", async () => {
    const roomId = await room("knock");
    const bob = await s.register();
    const before = await sync(bob.accessToken);
    const r = await knock(bob.accessToken, roomId, { reason: "let me in" });
    expect(r.status).toBe(200);
    expect(r.body).toEqual({ room_id: roomId });
    expect(await membership(roomId, bob.userId)).toBe("knock");

    const after = await sync(bob.accessToken, before.body.next_batch as string);
    const entry = (after.body.rooms as Rooms).knock?.[roomId];
    expect(entry).toBeDefined();
    const events = entry!.knock_state!.events;
    const own = events.find((e) => e.type === "m.room.member" && e.state_key === bob.userId);
    expect(own?.content).toMatchObject({ membership: "knock", reason: "let me in" });
    expect(events.find((e) => e.type === "m.room.name")?.content).toEqual({ name: "Knock here" });
    expect(events.find((e) => e.type === "m.room.join_rules")?.content).toEqual({ join_rule: "knock" });
    // Only the knocker's own member event: the room's members are not shown.
    expect(events.some((e) => e.type === "m.room.member" && e.state_key === admin.userId)).toBe(false);

    // The room's members see the knock in their timeline.
    const adminSync = await sync(admin.accessToken);
    const timeline = (
      adminSync.body.rooms as Record<
        string,
        Record<string, { timeline: { events: Record<string, unknown>[] } }>
      >
    ).join![roomId]!.timeline.events;
    expect(
      timeline.some(
        (e) =>
          e.type === "m.room.member" &&
          e.state_key === bob.userId &&
          (e.content as { membership: string }).membership === "knock",
      ),
    ).toBe(true);
  });

  it("knocks through a room alias, and on a knock_restricted room", async () => {
    const roomId = await room("knock_restricted", { room_alias_name: "knocking-alias" });
    const bob = await s.register();
    const r = await knock(bob.accessToken, "#knocking-alias:localhost");
    expect(r.status).toBe(200);
    expect(r.body.room_id).toBe(roomId);
    expect(await membership(roomId, bob.userId)).toBe("knock");
  });

  it("an invite accepts the knock: the knocker can then join", async () => {
    const roomId = await room("knock");
    const bob = await s.register();
    expect((await knock(bob.accessToken, roomId)).status).toBe(200);
    const since = (await sync(bob.accessToken)).body.next_batch as string;
    const inv = await s.call("POST", `${C}/rooms/${roomId}/invite`, {
      token: admin.accessToken,
      body: { user_id: bob.userId },
    });
    expect(inv.status).toBe(200);
    const after = await sync(bob.accessToken, since);
    expect((after.body.rooms as Rooms).invite?.[roomId]).toBeDefined();
    expect((after.body.rooms as Rooms).knock?.[roomId]).toBeUndefined();
    const join = await s.call("POST", `${C}/join/${roomId}`, { token: bob.accessToken, body: {} });
    expect(join.status).toBe(200);
    expect(await membership(roomId, bob.userId)).toBe("join");
  });

  it("a kick rejects the knock; the knocker may knock again", async () => {
    const roomId = await room("knock");
    const bob = await s.register();
    expect((await knock(bob.accessToken, roomId)).status).toBe(200);
    const since = (await sync(bob.accessToken)).body.next_batch as string;
    const kick = await s.call("POST", `${C}/rooms/${roomId}/kick`, {
      token: admin.accessToken,
      body: { user_id: bob.userId, reason: "no" },
    });
    expect(kick.status).toBe(200);
    expect(await membership(roomId, bob.userId)).toBe("leave");
    const after = await sync(bob.accessToken, since);
    expect((after.body.rooms as Rooms).leave?.[roomId]).toBeDefined();
    // Rejected, the user cannot join uninvited.
    const join = await s.call("POST", `${C}/join/${roomId}`, { token: bob.accessToken, body: {} });
    expect(join.status).toBe(403);
    expect((await knock(bob.accessToken, roomId)).status).toBe(200);
  });

  it("the knocker rescinds the knock with /leave", async () => {
    const roomId = await room("knock");
    const bob = await s.register();
    expect((await knock(bob.accessToken, roomId)).status).toBe(200);
    const leave = await s.call("POST", `${C}/rooms/${roomId}/leave`, { token: bob.accessToken, body: {} });
    expect(leave.status).toBe(200);
    expect(await membership(roomId, bob.userId)).toBe("leave");
  });

  it("refuses knocks on rooms that do not allow them, by members, by the banned and on unknown rooms", async () => {
    const bob = await s.register();
    for (const rule of ["invite", "public", "restricted"]) {
      const roomId = await room(rule);
      const r = await knock(bob.accessToken, roomId);
      expect(r.status, rule).toBe(403);
      expect(r.body.errcode).toBe("M_FORBIDDEN");
    }
    const roomId = await room("knock");
    expect((await knock(admin.accessToken, roomId)).status).toBe(403);
    const carol = await s.register();
    await s.call("POST", `${C}/rooms/${roomId}/ban`, {
      token: admin.accessToken,
      body: { user_id: carol.userId },
    });
    expect((await knock(carol.accessToken, roomId)).status).toBe(403);
    expect((await knock(bob.accessToken, "!nowhere:localhost")).status).toBe(404);
    expect((await knock(bob.accessToken, "#nowhere:localhost")).status).toBe(404);
    expect((await knock(bob.accessToken, "not-a-room")).status).toBe(400);
  });

  it("a guest cannot knock", async () => {
    const roomId = await room("knock");
    const g = await s.call("POST", `${C}/register?kind=guest`, { body: {} });
    expect(g.status).toBe(200);
    const r = await knock(g.body.access_token as string, roomId);
    expect(r.status).toBe(403);
    expect(await membership(roomId, g.body.user_id as string)).toBeNull();
  });
});
