import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { createRoom, roomList, send, slideOk, type Who } from "./helpers.ts";

describe("sliding sync: MSC3575 sticky parameters (matrix-js-sdk)", () => {
  let s: TestServer;
  let alice: Who;
  const rooms: string[] = [];

  beforeAll(async () => {
    s = await startTestServer();
    alice = await s.register();
    for (let i = 0; i < 3; i++) {
      const id = await createRoom(s, alice, { name: `sticky ${i}` });
      await send(s, alice, id, `message ${i}`);
      rooms.push(id);
    }
  });
  afterAll(async () => {
    await s.close();
  });

  it("keeps a list's parameters when a later request sends only its ranges", async () => {
    const first = await slideOk(s, alice, { conn_id: "js", lists: { all: roomList([0, 0]) } });
    expect(Object.keys(first.rooms)).toEqual([rooms[2]]);
    const wider = await slideOk(
      s,
      alice,
      { conn_id: "js", lists: { all: { ranges: [[0, 1]] } } },
      { pos: first.pos },
    );
    const entered = wider.rooms[rooms[1]!]!;
    expect(entered.timeline!.map((e) => e.content.body)).toEqual(["message 1"]);
    expect(entered.required_state!.some((e) => e.type === "m.room.name")).toBe(true);
  });

  it("keeps room subscriptions until unsubscribe_rooms, once the client uses sticky parameters", async () => {
    const list = { conn_id: "subs", lists: { all: roomList([0, 0]) } };
    const first = await slideOk(s, alice, {
      ...list,
      room_subscriptions: { [rooms[0]!]: { timeline_limit: 5 } },
    });
    expect(first.rooms[rooms[0]!]).toBeDefined();
    const ranges = { conn_id: "subs", lists: { all: { ranges: [[0, 0]] } } };
    const idle = await slideOk(s, alice, ranges, { pos: first.pos });
    await send(s, alice, rooms[0]!, "to the subscribed room");
    const next = await slideOk(s, alice, ranges, { pos: idle.pos });
    expect(next.rooms[rooms[0]!]!.timeline!.map((e) => e.content.body)).toContain("to the subscribed room");
    const gone = await slideOk(s, alice, { ...ranges, unsubscribe_rooms: [rooms[0]!] }, { pos: next.pos });
    await send(s, alice, rooms[0]!, "no longer subscribed");
    const after = await slideOk(s, alice, ranges, { pos: gone.pos });
    // rooms[0] is now the newest room, so it is in the list's range [0, 0] again: but as a list room.
    expect(after.lists.all!.count).toBe(3);
  });

  it("replaces the subscription set for a client that sends everything every time (Element X)", async () => {
    const body = (subs: Record<string, unknown>) => ({ conn_id: "x", room_subscriptions: subs });
    const first = await slideOk(s, alice, body({ [rooms[1]!]: { timeline_limit: 1 } }));
    expect(first.rooms[rooms[1]!]).toBeDefined();
    const dropped = await slideOk(s, alice, body({}), { pos: first.pos });
    await send(s, alice, rooms[1]!, "not subscribed any more");
    const next = await slideOk(s, alice, body({}), { pos: dropped.pos });
    expect(next.rooms).toEqual({});
  });
});
