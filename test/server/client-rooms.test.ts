import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestServer, type TestServer } from "../helpers/server.ts";

type Who = { userId: string; deviceId: string; accessToken: string };
type Body = Record<string, unknown>;
type Ev = { type: string; content: Body; sender?: string; state_key?: string; event_id?: string };
type JoinedRoom = {
  ephemeral?: { events: Ev[] };
  account_data?: { events: Ev[] };
  timeline?: { events: Ev[] };
  unread_notifications?: { notification_count: number; highlight_count: number };
};

const V3 = "/_matrix/client/v3";

describe("typing, receipts, unread counts and profiles in rooms", () => {
  let s: TestServer;
  let alice: Who;
  let bob: Who;
  let carol: Who;
  let roomId: string;

  const call = (who: Who, method: string, path: string, body?: unknown) =>
    s.call(method, `${V3}${path}`, { token: who.accessToken, body });
  const sync = async (who: Who, query = "") =>
    (await call(who, "GET", `/sync${query ? `?${query}` : ""}`)).body;
  const joined = (body: Body, id = roomId): JoinedRoom | undefined =>
    (body.rooms as { join?: Record<string, JoinedRoom> } | undefined)?.join?.[id];
  const send = async (who: Who, content: Body) => {
    const r = await call(who, "PUT", `/rooms/${roomId}/send/m.room.message/t${Math.random()}`, content);
    expect(r.status).toBe(200);
    return r.body.event_id as string;
  };

  beforeAll(async () => {
    s = await startTestServer();
    alice = await s.register("alice");
    bob = await s.register("bob");
    carol = await s.register("carol");
    const created = await call(alice, "POST", "/createRoom", { preset: "public_chat", name: "r" });
    expect(created.status).toBe(200);
    roomId = created.body.room_id as string;
    expect((await call(bob, "POST", `/join/${roomId}`, {})).status).toBe(200);
  });
  afterAll(async () => {
    await s.close();
  });

  it("shows typing in ephemeral events, wakes a long-poll quickly, and expires it", async () => {
    const before = await sync(bob);
    const started = Date.now();
    const pending = sync(bob, `since=${before.next_batch}&timeout=20000`);
    await new Promise((r) => setTimeout(r, 200));
    const t = await call(alice, "PUT", `/rooms/${roomId}/typing/${alice.userId}`, {
      typing: true,
      timeout: 1000,
    });
    expect(t.status).toBe(200);
    const woke = await pending;
    expect(Date.now() - started).toBeLessThan(5000);
    const typing = joined(woke)?.ephemeral?.events.find((e) => e.type === "m.typing");
    expect(typing?.content).toEqual({ user_ids: [alice.userId] });

    // The timeout ends it, and that change is delivered too.
    const stopped = await sync(bob, `since=${woke.next_batch}&timeout=5000`);
    const stop = joined(stopped)?.ephemeral?.events.find((e) => e.type === "m.typing");
    expect(stop?.content).toEqual({ user_ids: [] });
    // No change since: nothing more about typing.
    const quiet = await sync(bob, `since=${stopped.next_batch}&timeout=0`);
    expect(joined(quiet)?.ephemeral?.events.find((e) => e.type === "m.typing")).toBeUndefined();
  });

  it("stops a member's typing when they leave", async () => {
    const r4 = (await call(alice, "POST", "/createRoom", { preset: "public_chat" })).body.room_id as string;
    await call(bob, "POST", `/join/${r4}`, {});
    await call(bob, "PUT", `/rooms/${r4}/typing/${bob.userId}`, { typing: true, timeout: 60000 });
    const typers = async () =>
      joined(await sync(alice), r4)?.ephemeral?.events.find((e) => e.type === "m.typing")?.content.user_ids;
    expect(await typers()).toEqual([bob.userId]);
    await call(bob, "POST", `/rooms/${r4}/leave`, {});
    expect(await typers()).toBeUndefined();
  });

  it("refuses typing for others, outside the room, and with bad bodies", async () => {
    const other = await call(alice, "PUT", `/rooms/${roomId}/typing/${bob.userId}`, { typing: true });
    expect(other.status).toBe(403);
    const notMember = await call(carol, "PUT", `/rooms/${roomId}/typing/${carol.userId}`, { typing: true });
    expect(notMember.status).toBe(403);
    expect(notMember.body.errcode).toBe("M_FORBIDDEN");
    const bad = await call(alice, "PUT", `/rooms/${roomId}/typing/${alice.userId}`, { typing: "yes" });
    expect(bad.status).toBe(400);
    expect(bad.body.errcode).toBe("M_BAD_JSON");
    const badRoom = await call(alice, "PUT", `/rooms/not-a-room/typing/${alice.userId}`, { typing: true });
    expect(badRoom.status).toBe(400);
    expect(badRoom.body.errcode).toBe("M_INVALID_PARAM");
  });

  it("counts unread notifications and highlights until a read receipt, which others see", async () => {
    const base = await sync(bob);
    expect(joined(base)?.unread_notifications).toEqual({ notification_count: 0, highlight_count: 0 });
    await send(alice, { msgtype: "m.text", body: "hello" });
    await send(alice, { msgtype: "m.text", body: "hey bob, look" });
    const last = await send(alice, { msgtype: "m.notice", body: "bot says hi" });
    const next = await sync(bob, `since=${base.next_batch}`);
    // The room has two members: both messages notify (room_one_to_one), "bob" highlights, the notice does not.
    expect(joined(next)?.unread_notifications).toEqual({ notification_count: 2, highlight_count: 1 });
    // The sender's own messages never count for her.
    expect(joined(await sync(alice))?.unread_notifications).toEqual({
      notification_count: 0,
      highlight_count: 0,
    });

    const aliceBefore = await sync(alice);
    const receipt = await call(
      bob,
      "POST",
      `/rooms/${roomId}/receipt/m.read/${encodeURIComponent(last)}`,
      {},
    );
    expect(receipt.status).toBe(200);
    const afterReceipt = await sync(bob, `since=${next.next_batch}`);
    expect(joined(afterReceipt)?.unread_notifications).toEqual({ notification_count: 0, highlight_count: 0 });
    const r = joined(afterReceipt)?.ephemeral?.events.find((e) => e.type === "m.receipt");
    expect(r?.content[last]).toMatchObject({ "m.read": { [bob.userId]: { ts: expect.any(Number) } } });
    // Alice sees Bob's public receipt in her next sync.
    const aliceAfter = await sync(alice, `since=${aliceBefore.next_batch}`);
    const seen = joined(aliceAfter)?.ephemeral?.events.find((e) => e.type === "m.receipt");
    expect(Object.keys((seen?.content[last] as Body | undefined)?.["m.read"] ?? {})).toEqual([bob.userId]);
  });

  it("treats the user's own message as reading everything before it", async () => {
    await send(alice, { msgtype: "m.text", body: "are you there?" });
    const unread = joined(await sync(bob))?.unread_notifications;
    expect(unread?.notification_count).toBeGreaterThan(0);
    await send(bob, { msgtype: "m.text", body: "yes" });
    expect(joined(await sync(bob))?.unread_notifications).toEqual({
      notification_count: 0,
      highlight_count: 0,
    });
    await send(alice, { msgtype: "m.text", body: "good" });
    expect(joined(await sync(bob))?.unread_notifications).toEqual({
      notification_count: 1,
      highlight_count: 0,
    });
  });

  it("counts an event with the push rules in force when it was sent, as Synapse stores push actions", async () => {
    const created = await call(alice, "POST", "/createRoom", { preset: "public_chat", name: "rules" });
    const room = created.body.room_id as string;
    expect((await call(carol, "POST", `/join/${room}`, {})).status).toBe(200);
    const say = (body: string) =>
      call(alice, "PUT", `/rooms/${room}/send/m.room.message/t${Math.random()}`, { msgtype: "m.text", body });
    expect((await say("before the mute")).status).toBe(200);
    // Carol mutes the room before she has synced the first message.
    const mute = await call(carol, "PUT", `/pushrules/global/room/${encodeURIComponent(room)}`, {
      actions: ["dont_notify"],
    });
    expect(mute.status).toBe(200);
    expect((await say("after the mute")).status).toBe(200);
    expect(joined(await sync(carol), room)?.unread_notifications).toEqual({
      notification_count: 1,
      highlight_count: 0,
    });
  });

  it("keeps private receipts private and stores read markers", async () => {
    const id = await send(alice, { msgtype: "m.text", body: "secret-ish" });
    const aliceBefore = await sync(alice);
    const bobBefore = await sync(bob);
    const rm = await call(bob, "POST", `/rooms/${roomId}/read_markers`, {
      "m.fully_read": id,
      "m.read.private": id,
    });
    expect(rm.status).toBe(200);
    const bobAfter = await sync(bob, `since=${bobBefore.next_batch}`);
    const mine = joined(bobAfter)?.ephemeral?.events.find((e) => e.type === "m.receipt");
    expect((mine?.content[id] as Body | undefined)?.["m.read.private"]).toBeDefined();
    expect(joined(bobAfter)?.account_data?.events).toEqual([
      { type: "m.fully_read", content: { event_id: id } },
    ]);
    expect(joined(bobAfter)?.unread_notifications).toEqual({ notification_count: 0, highlight_count: 0 });
    const aliceAfter = await sync(alice, `since=${aliceBefore.next_batch}&timeout=0`);
    const leaked = joined(aliceAfter)?.ephemeral?.events.find((e) => e.type === "m.receipt");
    expect(leaked).toBeUndefined();
    const fr = await call(bob, "GET", `/user/${bob.userId}/rooms/${roomId}/account_data/m.fully_read`);
    expect(fr.body).toEqual({ event_id: id });
  });

  it("validates receipts: type, thread_id, membership, event", async () => {
    const id = await send(alice, { msgtype: "m.text", body: "x" });
    const path = (type: string, ev = id) => `/rooms/${roomId}/receipt/${type}/${encodeURIComponent(ev)}`;
    const threaded = await call(bob, "POST", path("m.read"), { thread_id: "main" });
    expect(threaded.status).toBe(200);
    const cases: [Who, string, unknown, number, string][] = [
      [bob, path("m.bogus"), {}, 400, "M_INVALID_PARAM"],
      [bob, path("m.fully_read"), { thread_id: "main" }, 400, "M_INVALID_PARAM"],
      [bob, path("m.read"), { thread_id: 5 }, 400, "M_BAD_JSON"],
      [bob, path("m.read", "$nope"), {}, 404, "M_NOT_FOUND"],
      [carol, path("m.read"), {}, 403, "M_FORBIDDEN"],
    ];
    for (const [who, p, body, status, errcode] of cases) {
      const r = await call(who, "POST", p, body);
      expect({ p, status: r.status, errcode: r.body.errcode }).toEqual({ p, status, errcode });
    }
    const rm = await call(bob, "POST", `/rooms/${roomId}/read_markers`, { "m.read": "$missing" });
    expect(rm.status).toBe(404);
  });

  it("moves receipts and the fully-read marker only forward", async () => {
    const older = await send(alice, { msgtype: "m.text", body: "one" });
    const newer = await send(alice, { msgtype: "m.text", body: "two" });
    const rr = (ev: string) =>
      call(bob, "POST", `/rooms/${roomId}/receipt/m.read/${encodeURIComponent(ev)}`, {});
    expect((await rr(newer)).status).toBe(200);
    const before = await sync(alice);
    expect((await rr(older)).status).toBe(200);
    await call(bob, "POST", `/rooms/${roomId}/read_markers`, { "m.fully_read": newer });
    await call(bob, "POST", `/rooms/${roomId}/read_markers`, { "m.fully_read": older });
    // Nothing moved back: Alice hears of no receipt change, Bob's marker stays on the newer event.
    const after = await sync(alice, `since=${before.next_batch}&timeout=0`);
    expect(joined(after)?.ephemeral?.events.find((e) => e.type === "m.receipt")).toBeUndefined();
    const initial = await sync(alice);
    const receipts = joined(initial)?.ephemeral?.events.find((e) => e.type === "m.receipt");
    expect((receipts?.content[newer] as Body | undefined)?.["m.read"]).toHaveProperty([bob.userId]);
    expect(receipts?.content[older]).toBeUndefined();
    const fr = await call(bob, "GET", `/user/${bob.userId}/rooms/${roomId}/account_data/m.fully_read`);
    expect(fr.body).toEqual({ event_id: newer });
  });

  it("propagates a display name change into the room as a member event", async () => {
    const before = await sync(alice);
    const put = await call(bob, "PUT", `/profile/${bob.userId}/displayname`, { displayname: "Bobby" });
    expect(put.status).toBe(200);
    const after = await sync(alice, `since=${before.next_batch}`);
    const member = joined(after)?.timeline?.events.find(
      (e) => e.type === "m.room.member" && e.state_key === bob.userId,
    );
    expect(member?.content).toMatchObject({ membership: "join", displayname: "Bobby" });
    const state = await call(alice, "GET", `/rooms/${roomId}/state/m.room.member/${bob.userId}`);
    expect(state.body).toMatchObject({ displayname: "Bobby" });
  });

  it("highlights the room display name", async () => {
    const base = await sync(alice);
    await send(bob, { msgtype: "m.text", body: "ping alice" });
    const next = await sync(alice, `since=${base.next_batch}`);
    expect(joined(next)?.unread_notifications?.highlight_count).toBeGreaterThanOrEqual(1);
  });

  it("answers /members?at= with a sync token", async () => {
    const token = (await sync(alice)).next_batch as string;
    await call(carol, "POST", `/join/${roomId}`, {});
    const atToken = await call(alice, "GET", `/rooms/${roomId}/members?not_membership=leave&at=${token}`);
    expect(atToken.status).toBe(200);
    const members = (atToken.body.chunk as Ev[]).map((e) => e.state_key).sort();
    expect(members).toEqual([alice.userId, bob.userId].sort());
    const now = await call(alice, "GET", `/rooms/${roomId}/members`);
    expect((now.body.chunk as Ev[]).map((e) => e.state_key)).toContain(carol.userId);
  });

  it("gives a room joined since the last sync its existing receipts and room account data", async () => {
    const r2 = (await call(alice, "POST", "/createRoom", { preset: "public_chat" })).body.room_id as string;
    const msg = (
      await call(alice, "PUT", `/rooms/${r2}/send/m.room.message/r2msg`, { msgtype: "m.text", body: "old" })
    ).body.event_id as string;
    await call(alice, "POST", `/rooms/${r2}/receipt/m.read/${encodeURIComponent(msg)}`, {});
    await call(carol, "PUT", `/user/${carol.userId}/rooms/${r2}/account_data/m.tag`, {
      tags: { "m.favourite": {} },
    });
    const before = await sync(carol);
    expect(joined(before, r2)).toBeUndefined();
    expect((await call(carol, "POST", `/join/${r2}`, {})).status).toBe(200);
    const after = await sync(carol, `since=${before.next_batch}`);
    const room = joined(after, r2);
    expect(room?.account_data?.events).toEqual([{ type: "m.tag", content: { tags: { "m.favourite": {} } } }]);
    const receipt = room?.ephemeral?.events.find((e) => e.type === "m.receipt");
    expect(Object.keys((receipt?.content[msg] as Body | undefined)?.["m.read"] ?? {})).toEqual([
      alice.userId,
    ]);
    expect(room?.unread_notifications).toEqual({ notification_count: 0, highlight_count: 0 });
  });

  it("splits unread counts per thread when the filter asks, and threaded receipts clear their thread", async () => {
    const r3 = (await call(alice, "POST", "/createRoom", { preset: "public_chat" })).body.room_id as string;
    await call(bob, "POST", `/join/${r3}`, {});
    const put = async (txn: string, content: Body) =>
      (await call(alice, "PUT", `/rooms/${r3}/send/m.room.message/${txn}`, content)).body.event_id as string;
    const root = await put("root", { msgtype: "m.text", body: "root" });
    const reply = await put("reply", {
      msgtype: "m.text",
      body: "in thread",
      "m.relates_to": { rel_type: "m.thread", event_id: root },
    });
    const split = encodeURIComponent(
      JSON.stringify({ room: { timeline: { unread_thread_notifications: true } } }),
    );
    const room = async (query: string) => joined(await sync(bob, query), r3) as Body | undefined;
    expect((await room(""))?.unread_notifications).toEqual({ notification_count: 2, highlight_count: 0 });
    let r = await room(`filter=${split}`);
    expect(r?.unread_notifications).toEqual({ notification_count: 1, highlight_count: 0 });
    expect(r?.unread_thread_notifications).toEqual({ [root]: { notification_count: 1, highlight_count: 0 } });

    await call(bob, "POST", `/rooms/${r3}/receipt/m.read/${encodeURIComponent(reply)}`, { thread_id: root });
    r = await room(`filter=${split}`);
    expect(r?.unread_notifications).toEqual({ notification_count: 1, highlight_count: 0 });
    expect(r?.unread_thread_notifications).toBeUndefined();
    await call(bob, "POST", `/rooms/${r3}/receipt/m.read/${encodeURIComponent(reply)}`, {});
    expect((await room(""))?.unread_notifications).toEqual({ notification_count: 0, highlight_count: 0 });
  });

  it("searches the user directory among users sharing a room", async () => {
    const r = await call(alice, "POST", "/user_directory/search", { search_term: "bob" });
    expect(r.status).toBe(200);
    expect(r.body.results).toEqual([{ user_id: bob.userId, display_name: "Bobby" }]);
    const limited = await call(alice, "POST", "/user_directory/search", { search_term: "", limit: 1 });
    expect(limited.body.limited).toBe(true);
    const bad = await call(alice, "POST", "/user_directory/search", { limit: 3 });
    expect(bad.status).toBe(400);
  });

  it("shares presence with room members only", async () => {
    const before = await sync(bob);
    const put = await call(alice, "PUT", `/presence/${alice.userId}/status`, {
      presence: "unavailable",
      status_msg: "lunch",
    });
    expect(put.status).toBe(200);
    const after = await sync(bob, `since=${before.next_batch}&timeout=5000`);
    const ev = (after.presence as { events: Ev[] } | undefined)?.events.find(
      (e) => e.sender === alice.userId,
    );
    expect(ev?.content).toMatchObject({ presence: "unavailable", status_msg: "lunch" });
    const get = await call(bob, "GET", `/presence/${alice.userId}/status`);
    expect(get.body).toMatchObject({ presence: "unavailable", status_msg: "lunch" });

    const outsider = await s.register("dave");
    const hidden = await call(outsider, "GET", `/presence/${alice.userId}/status`);
    expect(hidden.status).toBe(403);
    const unknown = await call(outsider, "GET", "/presence/@ghost:localhost/status");
    expect(unknown.status).toBe(404);
    const other = await call(bob, "PUT", `/presence/${alice.userId}/status`, { presence: "online" });
    expect(other.status).toBe(403);
    const badState = await call(alice, "PUT", `/presence/${alice.userId}/status`, { presence: "busy" });
    expect(badState.status).toBe(400);
  });

  it("sends the presence of a newly joined room's members", async () => {
    const fiona = await s.register("fiona");
    const before = await sync(fiona);
    const own = (before.presence as { events: Ev[] } | undefined)?.events.map((e) => e.sender);
    expect(own).toEqual([fiona.userId]);
    expect((await call(fiona, "POST", `/join/${roomId}`, {})).status).toBe(200);
    const after = await sync(fiona, `since=${before.next_batch}`);
    const senders = ((after.presence as { events: Ev[] } | undefined)?.events ?? []).map((e) => e.sender);
    expect(senders).toContain(alice.userId);
  });
});
