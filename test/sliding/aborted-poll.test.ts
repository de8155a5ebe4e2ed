import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { createRoom, roomList, SS, send, slideOk, type Who } from "./helpers.ts";

/**
 * A client that changes its request aborts its long-poll and sends the new body with the same
 * `pos` (matrix-js-sdk's resend(), the rust-sdk's cancelled futures). The answer it gets is the
 * one the next `pos` must build on, whenever the server notices the abandoned long-poll.
 */
describe("sliding sync: an abandoned long-poll", () => {
  let s: TestServer;
  let alice: Who;
  const roomIds: string[] = [];

  beforeAll(async () => {
    s = await startTestServer();
    alice = await s.register();
    for (let i = 0; i < 3; i++) {
      const id = await createRoom(s, alice, { name: `room ${i}` });
      await send(s, alice, id, `hello ${i}`);
      roomIds.push(id);
    }
  });
  afterAll(async () => {
    await s.close();
  });

  it("does not record a position for a response nobody received", async () => {
    const list = { all: roomList([0, 1]) };
    const first = await slideOk(s, alice, { conn_id: "c", lists: list });
    expect(Object.keys(first.rooms).sort()).toEqual(roomIds.slice(1).sort());

    // The long-poll the client will walk away from.
    const abandon = new AbortController();
    const poll = fetch(`${s.baseUrl}${SS}?pos=${encodeURIComponent(first.pos)}&timeout=20000`, {
      method: "POST",
      headers: { Authorization: `Bearer ${alice.accessToken}`, "Content-Type": "application/json" },
      body: JSON.stringify({ conn_id: "c", lists: list }),
      signal: abandon.signal,
    }).catch(() => null);
    await new Promise((r) => setTimeout(r, 300));

    // The new body, same pos: the oldest room by subscription.
    const sub = { [roomIds[0]!]: { timeline_limit: 5, required_state: [] } };
    const changed = await slideOk(
      s,
      alice,
      { conn_id: "c", lists: list, room_subscriptions: sub },
      { pos: first.pos },
    );
    expect(Object.keys(changed.rooms)).toEqual([roomIds[0]]);
    expect(changed.rooms[roomIds[0]!]!.initial).toBe(true);

    // Only now does the server learn the long-poll is gone.
    abandon.abort();
    await poll;
    await new Promise((r) => setTimeout(r, 300));

    // The client goes on from what it received: the subscribed room is known, nothing is new.
    const next = await slideOk(
      s,
      alice,
      { conn_id: "c", lists: list, room_subscriptions: sub },
      { pos: changed.pos },
    );
    expect(next.rooms).toEqual({});
  });
});
