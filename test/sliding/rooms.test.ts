import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { createRoom, join, roomList, type SlidingRoom, send, slideOk, V3, type Who } from "./helpers.ts";

const hasState = (room: SlidingRoom | undefined, type: string, key = "") =>
  (room?.required_state ?? []).some((e) => e.type === type && e.state_key === key);

describe("sliding sync: room results", () => {
  let s: TestServer;
  let alice: Who;
  let bob: Who;
  let carol: Who;
  const call = (who: Who, method: string, path: string, body?: unknown) =>
    s.call(method, `${V3}${path}`, { token: who.accessToken, body });

  beforeAll(async () => {
    s = await startTestServer();
    alice = await s.register();
    bob = await s.register();
    carol = await s.register();
  });
  afterAll(async () => {
    await s.close();
  });

  it("lazy-loads the members of timeline senders once per connection", async () => {
    const room = await createRoom(s, alice, { preset: "public_chat", name: "lazy" });
    await join(s, bob, room);
    await join(s, carol, room);
    await send(s, bob, room, "from bob");
    const list = {
      ranges: [[0, 0]],
      timeline_limit: 1,
      required_state: [
        ["m.room.member", "$LAZY"],
        ["m.room.name", ""],
      ],
    };
    const body = { conn_id: "lazy", room_subscriptions: { [room]: list } };
    const first = await slideOk(s, alice, body);
    const r = first.rooms[room]!;
    expect(hasState(r, "m.room.member", bob.userId)).toBe(true);
    expect(hasState(r, "m.room.member", carol.userId)).toBe(false);
    await send(s, bob, room, "bob again");
    await send(s, bob, room, "and again");
    const next = await slideOk(s, alice, body, { pos: first.pos });
    const delta = next.rooms[room]!;
    expect(delta.initial).toBeUndefined();
    expect(delta.timeline!.map((e) => e.content.body)).toEqual(["and again"]);
    expect(delta.limited).toBe(true);
    // Already sent on this connection: not again.
    expect(hasState(delta, "m.room.member", bob.userId)).toBe(false);
    // A new display name across a gap: the member event goes again.
    const renamed = await call(bob, "PUT", `/profile/${encodeURIComponent(bob.userId)}/displayname`, {
      displayname: "Robert",
    });
    expect(renamed.status).toBe(200);
    await send(s, bob, room, "as robert");
    await send(s, bob, room, "still robert");
    const third = await slideOk(s, alice, body, { pos: next.pos });
    const member = third.rooms[room]!.required_state!.find(
      (e) => e.type === "m.room.member" && e.state_key === bob.userId,
    );
    expect(member?.content.displayname).toBe("Robert");
  });

  it("shows a newly joined member no history their room's visibility hides", async () => {
    const room = await createRoom(s, alice, {
      preset: "public_chat",
      initial_state: [
        { type: "m.room.history_visibility", state_key: "", content: { history_visibility: "joined" } },
      ],
    });
    await send(s, alice, room, "before bob");
    await join(s, carol, room);
    await send(s, alice, room, "after carol");
    const r = await slideOk(s, carol, { room_subscriptions: { [room]: { timeline_limit: 10 } } });
    const bodies = r.rooms[room]!.timeline!.map((e) => e.content.body ?? e.type);
    expect(bodies).not.toContain("before bob");
    expect(bodies).toContain("after carol");
    // alice was there throughout: all of it.
    const own = await slideOk(s, alice, { room_subscriptions: { [room]: { timeline_limit: 10 } } });
    expect(own.rooms[room]!.timeline!.map((e) => e.content.body)).toContain("before bob");
  });

  it("answers at once when required_state grows, with the newly wanted state", async () => {
    const room = await createRoom(s, alice, { name: "grow", topic: "a topic" });
    const narrow = {
      conn_id: "grow",
      room_subscriptions: { [room]: { timeline_limit: 1, required_state: [] } },
    };
    const first = await slideOk(s, alice, narrow);
    expect(hasState(first.rooms[room], "m.room.topic")).toBe(false);
    const wide = {
      conn_id: "grow",
      room_subscriptions: { [room]: { timeline_limit: 1, required_state: [["m.room.topic", ""]] } },
    };
    const started = Date.now();
    const next = await slideOk(s, alice, wide, { pos: first.pos, timeout: 10_000 });
    expect(Date.now() - started).toBeLessThan(3_000);
    expect(hasState(next.rooms[room], "m.room.topic")).toBe(true);
  });

  it("re-sends the latest events when timeline_limit grows", async () => {
    const room = await createRoom(s, alice, { name: "expand" });
    for (const t of ["one", "two", "three"]) await send(s, alice, room, t);
    const sub = (limit: number) => ({
      conn_id: "expand",
      room_subscriptions: { [room]: { timeline_limit: limit } },
    });
    const first = await slideOk(s, alice, sub(1));
    expect(first.rooms[room]!.timeline!.map((e) => e.content.body)).toEqual(["three"]);
    const next = await slideOk(s, alice, sub(3), { pos: first.pos });
    expect(next.rooms[room]!.unstable_expanded_timeline).toBe(true);
    expect(next.rooms[room]!.timeline!.map((e) => e.content.body)).toEqual(["one", "two", "three"]);
  });

  it("ignores subscriptions to rooms the user is not in (no leak)", async () => {
    const privateRoom = await createRoom(s, bob, { name: "bob's secret" });
    await send(s, bob, privateRoom, "secret");
    const r = await slideOk(s, alice, { room_subscriptions: { [privateRoom]: { timeline_limit: 5 } } });
    expect(r.rooms[privateRoom]).toBeUndefined();
  });

  it("sends a room once more when the user is kicked, with their member event", async () => {
    const room = await createRoom(s, bob, { preset: "public_chat", name: "kick" });
    await join(s, alice, room);
    const body = { conn_id: "kick", lists: { all: roomList([0, 50]) } };
    const first = await slideOk(s, alice, body);
    expect(first.rooms[room]).toBeDefined();
    const kick = await call(bob, "POST", `/rooms/${encodeURIComponent(room)}/kick`, {
      user_id: alice.userId,
    });
    expect(kick.status).toBe(200);
    await send(s, bob, room, "after the kick");
    const next = await slideOk(s, alice, body, { pos: first.pos });
    const r = next.rooms[room]!;
    const own = r.required_state!.find((e) => e.type === "m.room.member" && e.state_key === alice.userId);
    expect(own?.content.membership).toBe("leave");
    expect((r.timeline ?? []).some((e) => e.content.body === "after the kick")).toBe(false);
  });

  it("sends the whole required_state of a new room even with timeline_limit 0", async () => {
    const room = await createRoom(s, alice, {
      initial_state: [
        { type: "m.room.encryption", state_key: "", content: { algorithm: "m.megolm.v1.aes-sha2" } },
      ],
    });
    const r = await slideOk(s, alice, {
      room_subscriptions: { [room]: { timeline_limit: 0, required_state: [["m.room.encryption", ""]] } },
    });
    // Element X takes a missing m.room.encryption in an initial response for "unencrypted".
    expect(hasState(r.rooms[room], "m.room.encryption")).toBe(true);
    expect(r.rooms[room]!.timeline).toBeUndefined();
  });

  it("names an unnamed room by its heroes and counts", async () => {
    const room = await createRoom(s, alice, { preset: "private_chat", invite: [bob.userId] });
    const r = await slideOk(s, alice, { room_subscriptions: { [room]: { timeline_limit: 0 } } });
    const entry = r.rooms[room]!;
    expect(entry.name).toBeUndefined();
    expect((entry.heroes as { user_id: string }[]).map((h) => h.user_id)).toEqual([bob.userId]);
    expect(entry.joined_count).toBe(1);
    expect(entry.invited_count).toBe(1);
  });

  it("filters lists by is_dm, is_encrypted, room types, tags and spaces", async () => {
    const dave = await s.register();
    const dm = await createRoom(s, dave, { is_direct: true, preset: "trusted_private_chat" });
    const encrypted = await createRoom(s, dave, {
      initial_state: [
        { type: "m.room.encryption", state_key: "", content: { algorithm: "m.megolm.v1.aes-sha2" } },
      ],
    });
    const space = await createRoom(s, dave, { creation_content: { type: "m.space" } });
    const child = await createRoom(s, dave, { name: "child" });
    const put = await call(
      dave,
      "PUT",
      `/rooms/${encodeURIComponent(space)}/state/m.space.child/${encodeURIComponent(child)}`,
      {
        via: ["localhost"],
      },
    );
    expect(put.status).toBe(200);
    await call(dave, "PUT", `/user/${encodeURIComponent(dave.userId)}/account_data/m.direct`, {
      [bob.userId]: [dm],
    });
    await call(
      dave,
      "PUT",
      `/user/${encodeURIComponent(dave.userId)}/rooms/${encodeURIComponent(child)}/tags/m.favourite`,
      {},
    );
    const l = (filters: Record<string, unknown>) => ({ ranges: [[0, 20]], timeline_limit: 0, filters });
    const r = await slideOk(s, dave, {
      lists: {
        dms: l({ is_dm: true }),
        encrypted: l({ is_encrypted: true }),
        spaces: l({ room_types: ["m.space"] }),
        notSpaces: l({ not_room_types: ["m.space"] }),
        favourites: l({ tags: ["m.favourite"] }),
        inSpace: l({ spaces: [space] }),
      },
    });
    expect(r.lists.dms!.count).toBe(1);
    expect(r.rooms[dm]!.is_dm).toBe(true);
    expect(r.lists.encrypted!.count).toBe(1);
    expect(r.rooms[encrypted]).toBeDefined();
    expect(r.lists.spaces!.count).toBe(1);
    expect(r.lists.notSpaces!.count).toBe(3);
    expect(r.lists.favourites!.count).toBe(1);
    expect(r.lists.inSpace!.count).toBe(1);
    expect(r.rooms[child]).toBeDefined();
  });
});

describe("sliding sync: extensions through the endpoint", () => {
  let s: TestServer;
  let alice: Who;
  let bob: Who;

  beforeAll(async () => {
    s = await startTestServer();
    alice = await s.register();
    bob = await s.register();
  });
  afterAll(async () => {
    await s.close();
  });

  it("delivers to-device messages until acknowledged by since, and wakes a long-poll for them", async () => {
    const body = (since?: string) => ({
      conn_id: "e2ee",
      extensions: { to_device: { enabled: true, ...(since ? { since } : {}) }, e2ee: { enabled: true } },
    });
    const first = await slideOk(s, alice, body());
    const td = first.extensions.to_device as { next_batch: string; events: unknown[] };
    expect(td.events).toEqual([]);
    expect((first.extensions.e2ee as Record<string, unknown>).device_one_time_keys_count).toEqual({
      signed_curve25519: 0,
    });
    const waiting = slideOk(s, alice, body(td.next_batch), { pos: first.pos, timeout: 10_000 });
    await new Promise((r) => setTimeout(r, 200));
    const sent = await s.call("PUT", `${V3}/sendToDevice/m.test/t1`, {
      token: bob.accessToken,
      body: { messages: { [alice.userId]: { [alice.deviceId]: { hello: "there" } } } },
    });
    expect(sent.status).toBe(200);
    const woke = await waiting;
    const got = woke.extensions.to_device as { next_batch: string; events: { content: unknown }[] };
    expect(got.events.map((e) => e.content)).toEqual([{ hello: "there" }]);
    // Acknowledged by the next since: gone even for a new connection that sends that since.
    const after = await slideOk(s, alice, body(got.next_batch));
    expect((after.extensions.to_device as { events: unknown[] }).events).toEqual([]);
  });

  it("wakes a long-poll for typing in a room of the window", async () => {
    const room = await createRoom(s, alice, { preset: "public_chat" });
    await join(s, bob, room);
    const body = {
      conn_id: "typing",
      lists: { all: roomList([0, 5]) },
      extensions: { typing: { enabled: true } },
    };
    const first = await slideOk(s, alice, body);
    const waiting = slideOk(s, alice, body, { pos: first.pos, timeout: 10_000 });
    await new Promise((r) => setTimeout(r, 200));
    const t = await s.call(
      "PUT",
      `${V3}/rooms/${encodeURIComponent(room)}/typing/${encodeURIComponent(bob.userId)}`,
      {
        token: bob.accessToken,
        body: { typing: true, timeout: 10_000 },
      },
    );
    expect(t.status).toBe(200);
    const woke = await waiting;
    const typing = woke.extensions.typing as { rooms: Record<string, { content: { user_ids: string[] } }> };
    expect(typing.rooms[room]!.content.user_ids).toEqual([bob.userId]);
  });
});
