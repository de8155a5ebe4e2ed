import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { createRoom, join, roomList, send, slide, slideOk, V3, type Who } from "./helpers.ts";

describe("sliding sync: lists, rooms and positions", () => {
  let s: TestServer;
  let alice: Who;
  let bob: Who;
  const roomIds: string[] = [];

  beforeAll(async () => {
    s = await startTestServer();
    alice = await s.register();
    bob = await s.register();
    for (let i = 0; i < 5; i++) {
      const id = await createRoom(s, alice, { name: `room ${i}`, preset: "public_chat" });
      await send(s, alice, id, `hello ${i}`);
      roomIds.push(id);
    }
  });
  afterAll(async () => {
    await s.close();
  });

  it("advertises the flag Element X looks for in /versions", async () => {
    const r = await s.call("GET", "/_matrix/client/versions");
    expect((r.body.unstable_features as Record<string, unknown>)["org.matrix.simplified_msc3575"]).toBe(true);
  });

  it("returns the newest rooms first within the range, with counts", async () => {
    const r = await slideOk(s, alice, { lists: { all: roomList([0, 2]) } });
    expect(r.lists.all!.count).toBe(5);
    const ids = Object.keys(r.rooms);
    expect(ids.sort()).toEqual(roomIds.slice(2).sort());
    const newest = r.rooms[roomIds[4]!]!;
    expect(newest.initial).toBe(true);
    expect(newest.name).toBe("room 4");
    expect(newest.timeline!.map((e) => e.content.body)).toEqual(["hello 4"]);
    expect(newest.limited).toBe(true);
    expect(newest.joined_count).toBe(1);
    expect(typeof newest.bump_stamp).toBe("number");
    expect(newest.required_state!.some((e) => e.type === "m.room.create")).toBe(true);
    expect(
      newest.required_state!.some((e) => e.type === "m.room.member" && e.state_key === alice.userId),
    ).toBe(true);
    expect(typeof r.pos).toBe("string");
  });

  it("sends only what changed after pos, and a new message moves its room into the range", async () => {
    const first = await slideOk(s, alice, { conn_id: "moves", lists: { all: roomList([0, 1]) } });
    expect(Object.keys(first.rooms).sort()).toEqual(roomIds.slice(3).sort());
    const empty = await slideOk(
      s,
      alice,
      { conn_id: "moves", lists: { all: roomList([0, 1]) } },
      { pos: first.pos },
    );
    expect(empty.rooms).toEqual({});
    await send(s, alice, roomIds[0]!, "back to the top");
    const next = await slideOk(
      s,
      alice,
      { conn_id: "moves", lists: { all: roomList([0, 1]) } },
      { pos: empty.pos },
    );
    expect(Object.keys(next.rooms)).toEqual([roomIds[0]]);
    const moved = next.rooms[roomIds[0]!]!;
    expect(moved.initial).toBe(true);
    expect(moved.timeline!.map((e) => e.content.body)).toEqual(["back to the top"]);
    expect(moved.num_live).toBe(1);
  });

  it("answers a retried pos with the same response, and an unknown pos with M_UNKNOWN_POS", async () => {
    const body = { conn_id: "retry", lists: { all: roomList([0, 0]) } };
    const first = await slideOk(s, alice, body);
    await send(s, alice, roomIds[1]!, "news");
    const a = await slideOk(s, alice, body, { pos: first.pos });
    const b = await slideOk(s, alice, body, { pos: first.pos });
    expect(b).toEqual(a);
    const bad = await slide(s, alice, body, { pos: "nonsense" });
    expect(bad.status).toBe(400);
    expect(bad.body.errcode).toBe("M_UNKNOWN_POS");
    // Someone else's pos is unknown to this user.
    const foreign = await slide(s, bob, body, { pos: first.pos });
    expect(foreign.body.errcode).toBe("M_UNKNOWN_POS");
    // A pos is the connection's: another conn_id of the same device does not know it.
    const otherConn = await slide(s, alice, { ...body, conn_id: "other" }, { pos: first.pos });
    expect(otherConn.body.errcode).toBe("M_UNKNOWN_POS");
  });

  it("gives two different answers to one pos two different positions", async () => {
    const a = { conn_id: "fork", lists: { all: roomList([0, 0]) } };
    const b = { conn_id: "fork", lists: { all: roomList([0, 2]) } };
    const first = await slideOk(s, alice, a);
    const toA = await slideOk(s, alice, a, { pos: first.pos });
    const toB = await slideOk(s, alice, b, { pos: first.pos });
    expect(toB.pos).not.toBe(toA.pos);
    // B's answer carries the rooms A's did not have; going on from it sends them no more.
    expect(Object.keys(toB.rooms).length).toBe(2);
    const next = await slideOk(s, alice, b, { pos: toB.pos });
    expect(next.rooms).toEqual({});
  });

  it("long-polls until a message arrives", async () => {
    const body = { conn_id: "poll", lists: { all: roomList([0, 4]) } };
    const first = await slideOk(s, alice, body);
    const started = Date.now();
    const waiting = slideOk(s, alice, body, { pos: first.pos, timeout: 10_000 });
    await new Promise((r) => setTimeout(r, 200));
    await send(s, alice, roomIds[2]!, "wake up");
    const r = await waiting;
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(r.rooms[roomIds[2]!]!.timeline!.map((e) => e.content.body)).toEqual(["wake up"]);
  });

  it("delivers invites with invite_state and the invite in it", async () => {
    const room = await createRoom(s, alice, { name: "secret" });
    const inv = await s.call("POST", `${V3}/rooms/${encodeURIComponent(room)}/invite`, {
      token: alice.accessToken,
      body: { user_id: bob.userId },
    });
    expect(inv.status).toBe(200);
    const r = await slideOk(s, bob, {
      lists: { invites: roomList([0, 9], { filters: { is_invite: true } }) },
    });
    expect(r.lists.invites!.count).toBe(1);
    const entry = r.rooms[room]!;
    expect(entry.timeline).toBeUndefined();
    expect(entry.invite_state!.some((e) => e.type === "m.room.member" && e.state_key === bob.userId)).toBe(
      true,
    );
    expect(entry.invite_state!.some((e) => e.type === "m.room.name")).toBe(true);
    await join(s, bob, room);
  });

  it("echoes txn_id, answers timeout=0 at once, and reads pos and timeout from the body too", async () => {
    const body = { conn_id: "body", txn_id: "t-1", lists: { all: roomList([0, 0]) } };
    const first = await slideOk(s, alice, body);
    expect(first.txn_id).toBe("t-1");
    const started = Date.now();
    const idle = await slideOk(s, alice, { ...body, txn_id: "t-2" }, { pos: first.pos, timeout: 0 });
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(idle.txn_id).toBe("t-2");
    expect(idle.lists.all!.count).toBe(first.lists.all!.count);
    expect(idle.rooms).toEqual({});
    const viaBody = await slideOk(s, alice, { ...body, txn_id: "t-3", pos: idle.pos, timeout: 0 });
    expect(viaBody.rooms).toEqual({});
    const stale = await slide(s, alice, body, { pos: first.pos });
    expect(stale.body.errcode).toBe("M_UNKNOWN_POS");
  });

  it("rejects wrong types with 400 and ignores unknown fields", async () => {
    const wrong = await slide(s, alice, { lists: { all: { ranges: "no" } } });
    expect(wrong.status).toBe(400);
    const unknown = await slide(s, alice, { lists: { all: { ranges: [[0, 1]], bogus: 1 } }, what: true });
    expect(unknown.status).toBe(200);
  });
});
