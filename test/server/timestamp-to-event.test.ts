import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestServer, type TestServer } from "../helpers/server.ts";

type Who = { userId: string; deviceId: string; accessToken: string };
type Ev = { event_id: string; origin_server_ts: number; type: string; sender: string };

const V3 = "/_matrix/client/v3";
const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("GET /rooms/{roomId}/timestamp_to_event", () => {
  let s: TestServer;
  let alice: Who;
  let bob: Who;
  let carol: Who;
  let roomId: string;
  const sent: Ev[] = [];

  const call = (who: Who, method: string, path: string, body?: unknown) =>
    s.call(method, `${V3}${path}`, { token: who.accessToken, body });
  const lookup = (who: Who, query: string, room = roomId) =>
    s.call("GET", `/_matrix/client/v1/rooms/${room}/timestamp_to_event?${query}`, { token: who.accessToken });
  const send = async (who: Who, body: string) => {
    const r = await call(who, "PUT", `/rooms/${roomId}/send/m.room.message/t${Math.random()}`, {
      msgtype: "m.text",
      body,
    });
    expect(r.status).toBe(200);
    const ev = await call(
      who,
      "GET",
      `/rooms/${roomId}/event/${encodeURIComponent(r.body.event_id as string)}`,
    );
    return ev.body as unknown as Ev;
  };

  beforeAll(async () => {
    s = await startTestServer();
    alice = await s.register("alice");
    bob = await s.register("bob");
    carol = await s.register("carol");
    const created = await call(alice, "POST", "/createRoom", {
      preset: "public_chat",
      initial_state: [
        { type: "m.room.history_visibility", state_key: "", content: { history_visibility: "joined" } },
      ],
    });
    roomId = created.body.room_id as string;
    for (const text of ["one", "two", "three"]) {
      await pause(15);
      sent.push(await send(alice, text));
    }
    await pause(15);
    expect((await call(bob, "POST", `/join/${roomId}`, {})).status).toBe(200);
  });
  afterAll(async () => {
    await s.close();
  });

  it("finds the closest event forwards and backwards", async () => {
    const [one, two, three] = sent as [Ev, Ev, Ev];
    expect(one.origin_server_ts).toBeLessThan(two.origin_server_ts);
    expect(two.origin_server_ts).toBeLessThan(three.origin_server_ts);
    const at = await lookup(alice, `ts=${two.origin_server_ts}&dir=f`);
    expect(at.status).toBe(200);
    expect(at.body).toEqual({ event_id: two.event_id, origin_server_ts: two.origin_server_ts });
    expect((await lookup(alice, `ts=${two.origin_server_ts}&dir=b`)).body.event_id).toBe(two.event_id);
    const unstable = await s.call(
      "GET",
      `/_matrix/client/unstable/org.matrix.msc3030/rooms/${roomId}/timestamp_to_event?ts=${two.origin_server_ts}&dir=f`,
      { token: alice.accessToken },
    );
    expect(unstable.body.event_id).toBe(two.event_id);
    expect((await lookup(alice, `ts=${two.origin_server_ts + 1}&dir=f`)).body.event_id).toBe(three.event_id);
    expect((await lookup(alice, `ts=${three.origin_server_ts - 1}&dir=b`)).body.event_id).toBe(two.event_id);
    const newest = await lookup(alice, `ts=${Date.now() + 60_000}&dir=b`);
    expect(newest.status).toBe(200);
    expect(newest.body.origin_server_ts as number).toBeGreaterThanOrEqual(three.origin_server_ts);
  });

  it("404s when there is no event in that direction", async () => {
    const before = await lookup(alice, "ts=0&dir=b");
    expect(before.status).toBe(404);
    expect(before.body.errcode).toBe("M_NOT_FOUND");
    const after = await lookup(alice, `ts=${Date.now() + 3_600_000}&dir=f`);
    expect(after.status).toBe(404);
    expect(after.body.errcode).toBe("M_NOT_FOUND");
  });

  it("skips events the caller may not see (history_visibility joined)", async () => {
    const [one, , three] = sent as [Ev, Ev, Ev];
    const back = await lookup(bob, `ts=${three.origin_server_ts}&dir=b`);
    // Alice's messages are hidden from Bob; the room's creation (before history_visibility was
    // set, so "shared") is the closest event he may see.
    expect(back.status).toBe(200);
    expect(back.body.origin_server_ts as number).toBeLessThanOrEqual(one.origin_server_ts);
    expect(sent.map((e) => e.event_id)).not.toContain(back.body.event_id);
    const fwd = await lookup(bob, `ts=${one.origin_server_ts}&dir=f`);
    expect(fwd.status).toBe(200);
    expect(fwd.body.origin_server_ts as number).toBeGreaterThan(three.origin_server_ts);
    expect(sent.map((e) => e.event_id)).not.toContain(fwd.body.event_id);
  });

  it("pages past a long run of hidden events", async () => {
    const room = (
      await call(alice, "POST", "/createRoom", {
        preset: "public_chat",
        initial_state: [
          { type: "m.room.history_visibility", state_key: "", content: { history_visibility: "joined" } },
        ],
      })
    ).body.room_id as string;
    const created = Date.now();
    await pause(15);
    for (let i = 0; i < 230; i++) {
      const r = await call(alice, "PUT", `/rooms/${room}/send/m.room.message/bulk${i}`, {
        msgtype: "m.text",
        body: `${i}`,
      });
      expect(r.status).toBe(200);
    }
    await pause(15);
    const beforeJoin = Date.now();
    await pause(15);
    expect((await call(bob, "POST", `/join/${room}`, {})).status).toBe(200);
    const back = await lookup(bob, `ts=${beforeJoin}&dir=b`, room);
    expect(back.status).toBe(200);
    expect(back.body.origin_server_ts as number).toBeLessThanOrEqual(created);
    // Alice sees the newest of her messages.
    const mine = await lookup(alice, `ts=${beforeJoin}&dir=b`, room);
    expect(mine.body.origin_server_ts as number).toBeGreaterThan(created);
  });

  it("403s a caller who is not in the room", async () => {
    const r = await lookup(carol, "ts=0&dir=f");
    expect(r.status).toBe(403);
    expect(r.body.errcode).toBe("M_FORBIDDEN");
    const unknown = await lookup(alice, "ts=0&dir=f", "!unknown:localhost");
    expect(unknown.status).toBe(403);
  });

  it("400s bad parameters, never a 500", async () => {
    for (const [query, errcode] of [
      ["dir=f", "M_MISSING_PARAM"],
      ["ts=1", "M_MISSING_PARAM"],
      ["ts=abc&dir=f", "M_INVALID_PARAM"],
      ["ts=-1&dir=f", "M_INVALID_PARAM"],
      ["ts=1.5&dir=f", "M_INVALID_PARAM"],
      ["ts=99999999999999999999&dir=f", "M_INVALID_PARAM"],
      ["ts=9999999999999999&dir=f", "M_INVALID_PARAM"],
      ["ts=1&dir=x", "M_INVALID_PARAM"],
      ["ts=&dir=f", "M_INVALID_PARAM"],
      ["ts=1%00&dir=f", "M_INVALID_PARAM"],
    ] as const) {
      const r = await lookup(alice, query);
      expect(r.status, query).toBe(400);
      expect(r.body.errcode, query).toBe(errcode);
    }
    const badRoom = await lookup(alice, "ts=1&dir=f", "not-a-room");
    expect(badRoom.status).toBe(400);
  });
});
