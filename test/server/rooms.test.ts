import { createPublicKey, verify } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { canonicalJson } from "../../server/rooms/canonical-json.ts";
import { contentHash, redactedSigningBytes, referenceHashEventId } from "../../server/rooms/event-hashing.ts";
import { SyncEngine } from "../../sync/engine.ts";
import type { SyncResponse } from "../../sync/provider.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";

type User = { userId: string; deviceId: string; accessToken: string };
type Ev = {
  type: string;
  event_id: string;
  sender: string;
  state_key?: string;
  content: Record<string, unknown>;
  unsigned?: Record<string, unknown>;
};
const V3 = "/_matrix/client/v3";
const enc = encodeURIComponent;

describe("rooms", () => {
  let s: TestServer;
  let alice: User;
  let bob: User;
  let carol: User;
  let txn = 0;

  const send = (
    u: User,
    roomId: string,
    body: Record<string, unknown>,
    type = "m.room.message",
    txnId?: string,
  ) =>
    s.call("PUT", `${V3}/rooms/${enc(roomId)}/send/${type}/${txnId ?? `t${++txn}`}`, {
      token: u.accessToken,
      body,
    });
  const putState = (u: User, roomId: string, type: string, key: string, body: Record<string, unknown>) =>
    s.call("PUT", `${V3}/rooms/${enc(roomId)}/state/${type}/${enc(key)}`, { token: u.accessToken, body });
  const act = (u: User, roomId: string, action: string, body: Record<string, unknown> = {}) =>
    s.call("POST", `${V3}/rooms/${enc(roomId)}/${action}`, { token: u.accessToken, body });
  const get = (u: User, path: string) => s.call("GET", `${V3}${path}`, { token: u.accessToken });
  const createRoom = async (u: User, body: Record<string, unknown> = {}) => {
    const r = await s.call("POST", `${V3}/createRoom`, { token: u.accessToken, body });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    return r.body.room_id as string;
  };
  const messages = async (u: User, roomId: string, query: string) => {
    const r = await get(u, `/rooms/${enc(roomId)}/messages?${query}`);
    return r as {
      status: number;
      body: { chunk: Ev[]; start: string; end?: string; errcode?: string } & Record<string, unknown>;
    };
  };
  const expectError = (
    r: { status: number; body: Record<string, unknown> },
    status: number,
    errcode: string,
  ) => expect([r.status, r.body.errcode], JSON.stringify(r.body)).toEqual([status, errcode]);

  beforeAll(async () => {
    s = await startTestServer();
    alice = await s.register("alice");
    bob = await s.register("bob");
    carol = await s.register("carol");
  });
  afterAll(async () => {
    await s.close();
  });

  it("creates a room with presets, name, topic and initial state", async () => {
    const roomId = await createRoom(alice, {
      preset: "public_chat",
      name: "Lobby",
      topic: "hello",
      initial_state: [
        { type: "m.room.encryption", state_key: "", content: { algorithm: "m.megolm.v1.aes-sha2" } },
      ],
    });
    expect(roomId).toMatch(/^![A-Za-z]{18}:localhost$/);
    const st = await get(alice, `/rooms/${enc(roomId)}/state`);
    expect(st.status).toBe(200);
    const types = (st.body as unknown as Ev[]).map((e) => e.type).sort();
    expect(types).toEqual(
      [
        "m.room.create",
        "m.room.encryption",
        "m.room.history_visibility",
        "m.room.join_rules",
        "m.room.member",
        "m.room.name",
        "m.room.power_levels",
        "m.room.topic",
      ].sort(),
    );
    expect((await get(alice, `/rooms/${enc(roomId)}/state/m.room.name`)).body).toEqual({ name: "Lobby" });
    // Empty state key with and without the trailing slash.
    expect((await get(alice, `/rooms/${enc(roomId)}/state/m.room.join_rules/`)).body).toEqual({
      join_rule: "public",
    });
    expect((await get(alice, `/rooms/${enc(roomId)}/state/m.room.create`)).body).toEqual({
      creator: alice.userId,
      room_version: "10",
    });
    expectError(await get(alice, `/rooms/${enc(roomId)}/state/m.room.avatar`), 404, "M_NOT_FOUND");
  });

  it("creates room version 11 rooms without a creator and rejects unknown versions", async () => {
    const roomId = await createRoom(alice, { room_version: "11" });
    expect((await get(alice, `/rooms/${enc(roomId)}/state/m.room.create`)).body).toEqual({
      room_version: "11",
    });
    const sent = await send(alice, roomId, { body: "v11" });
    expect(sent.status).toBe(200);
    const bad = await s.call("POST", `${V3}/createRoom`, {
      token: alice.accessToken,
      body: { room_version: "12" },
    });
    expectError(bad, 400, "M_UNSUPPORTED_ROOM_VERSION");
  });

  it("applies trusted_private_chat, invites with is_direct and power_level_content_override", async () => {
    const roomId = await createRoom(alice, {
      preset: "trusted_private_chat",
      invite: [bob.userId],
      is_direct: true,
      power_level_content_override: { events_default: 10 },
    });
    const pl = (await get(alice, `/rooms/${enc(roomId)}/state/m.room.power_levels`)).body;
    expect(pl).toMatchObject({ events_default: 10, users: { [alice.userId]: 100, [bob.userId]: 100 } });
    const member = (await get(alice, `/rooms/${enc(roomId)}/state/m.room.member/${enc(bob.userId)}`)).body;
    expect(member).toMatchObject({ membership: "invite", is_direct: true });
    expect((await get(alice, `/rooms/${enc(roomId)}/state/m.room.join_rules`)).body).toEqual({
      join_rule: "invite",
    });
  });

  it("joins a public room, sends and reads messages", async () => {
    const roomId = await createRoom(alice, { preset: "public_chat" });
    const join = await s.call("POST", `${V3}/join/${enc(roomId)}`, { token: bob.accessToken, body: {} });
    expect(join.status).toBe(200);
    expect(join.body.room_id).toBe(roomId);
    const sent = await send(bob, roomId, { msgtype: "m.text", body: "hi" });
    expect(sent.status).toBe(200);
    expect(sent.body.event_id).toMatch(/^\$[A-Za-z0-9_-]{43}$/);
    const ev = await get(alice, `/rooms/${enc(roomId)}/event/${enc(sent.body.event_id as string)}`);
    expect(ev.status).toBe(200);
    expect(ev.body).toMatchObject({ type: "m.room.message", sender: bob.userId, content: { body: "hi" } });
    expect((await get(bob, "/joined_rooms")).body.joined_rooms).toContain(roomId);
    const jm = await get(bob, `/rooms/${enc(roomId)}/joined_members`);
    expect(Object.keys(jm.body.joined as object).sort()).toEqual([alice.userId, bob.userId].sort());
  });

  it("enforces invite-only joins, invites, leaves, rejoins and forget", async () => {
    const roomId = await createRoom(alice, { preset: "private_chat" });
    expectError(await act(bob, roomId, "join"), 403, "M_FORBIDDEN");
    // bob (not joined) cannot invite; alice can.
    expectError(await act(bob, roomId, "invite", { user_id: carol.userId }), 403, "M_FORBIDDEN");
    expect((await act(alice, roomId, "invite", { user_id: bob.userId })).status).toBe(200);
    expect((await act(bob, roomId, "join")).status).toBe(200);
    // bob at power 0 may invite in a private_chat room (Synapse's private presets: invite level 0).
    expect((await act(bob, roomId, "invite", { user_id: carol.userId })).status).toBe(200);
    expect((await act(carol, roomId, "leave")).status).toBe(200);
    // Inviting a joined user is refused.
    expectError(await act(alice, roomId, "invite", { user_id: bob.userId }), 403, "M_FORBIDDEN");
    expectError(await act(bob, roomId, "forget"), 400, "M_UNKNOWN");
    expect((await act(bob, roomId, "leave")).status).toBe(200);
    expectError(await act(bob, roomId, "leave"), 403, "M_FORBIDDEN");
    expectError(await send(bob, roomId, { body: "after leaving" }), 403, "M_FORBIDDEN");
    expectError(await act(bob, roomId, "join"), 403, "M_FORBIDDEN");
    expect((await act(bob, roomId, "forget")).status).toBe(200);
    expect((await get(bob, "/joined_rooms")).body.joined_rooms).not.toContain(roomId);
    // An invitee may reject (leave) the invite.
    expect((await act(alice, roomId, "invite", { user_id: carol.userId })).status).toBe(200);
    expect((await act(carol, roomId, "leave")).status).toBe(200);
    expect(await s.rooms.membership(roomId, carol.userId)).toBe("leave");
  });

  it("enforces kick, ban and unban by power level", async () => {
    const roomId = await createRoom(alice, { preset: "public_chat" });
    await act(bob, roomId, "join");
    await act(carol, roomId, "join");
    expectError(await act(bob, roomId, "kick", { user_id: carol.userId }), 403, "M_FORBIDDEN");
    expectError(await act(bob, roomId, "ban", { user_id: carol.userId }), 403, "M_FORBIDDEN");
    expectError(await act(bob, roomId, "kick", { user_id: alice.userId }), 403, "M_FORBIDDEN");
    expect((await act(alice, roomId, "kick", { user_id: carol.userId, reason: "bye" })).status).toBe(200);
    const m = (await get(alice, `/rooms/${enc(roomId)}/state/m.room.member/${enc(carol.userId)}`)).body;
    expect(m).toEqual({ membership: "leave", reason: "bye" });
    expectError(await act(alice, roomId, "kick", { user_id: carol.userId }), 403, "M_FORBIDDEN");
    expect((await act(alice, roomId, "ban", { user_id: carol.userId })).status).toBe(200);
    expectError(await act(carol, roomId, "join"), 403, "M_FORBIDDEN");
    expectError(await act(bob, roomId, "unban", { user_id: carol.userId }), 403, "M_FORBIDDEN");
    expect((await act(alice, roomId, "unban", { user_id: carol.userId })).status).toBe(200);
    expectError(await act(alice, roomId, "unban", { user_id: carol.userId }), 403, "M_FORBIDDEN");
    expect((await act(carol, roomId, "join")).status).toBe(200);
  });

  it("enforces power levels on state events and power level changes", async () => {
    const roomId = await createRoom(alice, { preset: "public_chat" });
    await act(bob, roomId, "join");
    expectError(await putState(bob, roomId, "m.room.name", "", { name: "bob's" }), 403, "M_FORBIDDEN");
    const pl = (await get(alice, `/rooms/${enc(roomId)}/state/m.room.power_levels`)).body as Record<
      string,
      unknown
    >;
    const users = { ...(pl.users as Record<string, number>), [bob.userId]: 50 };
    expect((await putState(alice, roomId, "m.room.power_levels", "", { ...pl, users })).status).toBe(200);
    expect((await putState(bob, roomId, "m.room.name", "", { name: "bob's" })).status).toBe(200);
    // bob (50) cannot raise himself above 50, change alice's level, or touch the 100-level event entries.
    const raise = { ...pl, users: { ...users, [bob.userId]: 100 } };
    expectError(await putState(bob, roomId, "m.room.power_levels", "", raise), 403, "M_FORBIDDEN");
    const demote = { ...pl, users: { ...users, [alice.userId]: 0 } };
    expectError(await putState(bob, roomId, "m.room.power_levels", "", demote), 403, "M_FORBIDDEN");
    // Room version 10: levels must be integers.
    const str = { ...pl, users, ban: "50" };
    expectError(await putState(alice, roomId, "m.room.power_levels", "", str), 403, "M_FORBIDDEN");
    // events_default applies to messages.
    expect(
      (await putState(alice, roomId, "m.room.power_levels", "", { ...pl, users, events_default: 60 })).status,
    ).toBe(200);
    expectError(await send(bob, roomId, { body: "muted" }), 403, "M_FORBIDDEN");
    // A state key that is another user's id is reserved for them.
    expectError(await putState(alice, roomId, "x.custom", bob.userId, { a: 1 }), 403, "M_FORBIDDEN");
    expect((await putState(alice, roomId, "x.custom", alice.userId, { a: 1 })).status).toBe(200);
  });

  it("makes sends idempotent per device and txnId", async () => {
    const roomId = await createRoom(alice);
    const first = await send(alice, roomId, { body: "once" }, "m.room.message", "same-txn");
    const retry = await send(alice, roomId, { body: "once" }, "m.room.message", "same-txn");
    expect(first.status).toBe(200);
    expect(retry.body.event_id).toBe(first.body.event_id);
    // The same txnId from another device of the same user is a different request.
    const login = await s.call("POST", `${V3}/login`, {
      body: {
        type: "m.login.password",
        identifier: { type: "m.id.user", user: "alice" },
        password: "correct horse battery staple",
      },
    });
    const other = { ...alice, accessToken: login.body.access_token as string };
    const fromOther = await send(other, roomId, { body: "once" }, "m.room.message", "same-txn");
    expect(fromOther.body.event_id).not.toBe(first.body.event_id);
    const page = await messages(alice, roomId, "dir=b&limit=50");
    const bodies = page.body.chunk.filter((e) => e.content.body === "once");
    expect(bodies).toHaveLength(2);
    // transaction_id is shown only to the sending device.
    const mine = bodies.find((e) => e.event_id === first.body.event_id)!;
    expect(mine.unsigned?.transaction_id).toBe("same-txn");
    const theirs = bodies.find((e) => e.event_id === fromOther.body.event_id)!;
    expect(theirs.unsigned?.transaction_id).toBeUndefined();
    // A concurrent retry storm still stores one event, while other rooms' sends share its commits.
    const others = [await createRoom(alice), await createRoom(alice)];
    const [storm, side] = await Promise.all([
      Promise.all(
        Array.from({ length: 8 }, () =>
          send(alice, roomId, { body: "storm" }, "m.room.message", "storm-txn"),
        ),
      ),
      Promise.all(Array.from({ length: 10 }, (_, i) => send(alice, others[i % 2]!, { body: `side ${i}` }))),
    ]);
    expect(new Set(storm.map((r) => r.body.event_id)).size).toBe(1);
    expect(side.every((r) => r.status === 200)).toBe(true);
    for (const other of others) {
      const got = await messages(alice, other, "dir=b&limit=50");
      expect(got.body.chunk.filter((e) => String(e.content.body).startsWith("side"))).toHaveLength(5);
    }
    const after = await messages(alice, roomId, "dir=b&limit=50");
    expect(after.body.chunk.filter((e) => e.content.body === "storm")).toHaveLength(1);
  });

  it("paginates /messages backwards and forwards with tokens and filters", async () => {
    const roomId = await createRoom(alice, { preset: "public_chat" });
    const ids: string[] = [];
    for (let i = 0; i < 7; i++)
      ids.push((await send(alice, roomId, { body: `m${i}` })).body.event_id as string);
    await send(alice, roomId, { key: "v" }, "x.other");
    const b1 = await messages(
      alice,
      roomId,
      `dir=b&limit=3&filter=${enc(JSON.stringify({ types: ["m.room.message"] }))}`,
    );
    expect(b1.status).toBe(200);
    expect(b1.body.chunk.map((e) => e.content.body)).toEqual(["m6", "m5", "m4"]);
    expect(b1.body.end).toBeDefined();
    const b2 = await messages(
      alice,
      roomId,
      `dir=b&limit=3&from=${b1.body.end}&filter=${enc(JSON.stringify({ types: ["m.room.message"] }))}`,
    );
    expect(b2.body.chunk.map((e) => e.content.body)).toEqual(["m3", "m2", "m1"]);
    // Forward from b2's end (just before m1) returns what lies after it, oldest first.
    const f1 = await messages(alice, roomId, `dir=f&limit=3&from=${b2.body.end}`);
    expect(f1.body.chunk.map((e) => e.content.body)).toEqual(["m1", "m2", "m3"]);
    const f2 = await messages(
      alice,
      roomId,
      `dir=f&limit=100&from=${f1.body.end}&filter=${enc(JSON.stringify({ not_types: ["x.other"] }))}`,
    );
    expect(f2.body.chunk.map((e) => e.content.body)).toEqual(["m4", "m5", "m6"]);
    expect(f2.body.end).toBeUndefined();
    // `to` bounds the page.
    const bounded = await messages(
      alice,
      roomId,
      `dir=b&limit=100&to=${b1.body.end}&filter=${enc(JSON.stringify({ types: ["m.room.message"] }))}`,
    );
    expect(bounded.body.chunk.map((e) => e.content.body)).toEqual(["m6", "m5", "m4"]);
    // Without `from` and dir=f, from the start of the room.
    const start = await messages(alice, roomId, "dir=f&limit=1");
    expect(start.body.chunk[0]!.type).toBe("m.room.create");
    // Senders filter and lazy-loaded members.
    const lazy = await messages(
      alice,
      roomId,
      `dir=b&limit=2&filter=${enc(JSON.stringify({ lazy_load_members: true, senders: [alice.userId] }))}`,
    );
    expect((lazy.body.state as Ev[]).map((e) => e.state_key)).toEqual([alice.userId]);
    expectError(await messages(alice, roomId, "dir=x"), 400, "M_INVALID_PARAM");
    expectError(await messages(alice, roomId, "from=garbage"), 400, "M_INVALID_PARAM");
    expectError(await messages(alice, roomId, "filter=%7Bnot"), 400, "M_INVALID_PARAM");
  });

  it("answers /context around an event", async () => {
    const roomId = await createRoom(alice);
    const ids: string[] = [];
    for (let i = 0; i < 5; i++)
      ids.push((await send(alice, roomId, { body: `c${i}` })).body.event_id as string);
    const r = await get(alice, `/rooms/${enc(roomId)}/context/${enc(ids[2]!)}?limit=4`);
    expect(r.status).toBe(200);
    const body = r.body as {
      event: Ev;
      events_before: Ev[];
      events_after: Ev[];
      state: Ev[];
      start: string;
      end: string;
    };
    expect(body.event.event_id).toBe(ids[2]);
    expect(body.events_before.map((e) => e.content.body)).toEqual(["c1", "c0"]);
    expect(body.events_after.map((e) => e.content.body)).toEqual(["c3", "c4"]);
    expect(body.state.some((e) => e.type === "m.room.create")).toBe(true);
    const more = await messages(alice, roomId, `dir=b&limit=1&from=${body.start}`);
    expect(more.body.chunk[0]!.type).not.toBe("m.room.message");
    // Someone never in the room is refused (403, as Synapse; the spec names no error here).
    expectError(await get(bob, `/rooms/${enc(roomId)}/context/${enc(ids[2]!)}`), 403, "M_FORBIDDEN");
    expectError(await get(bob, `/rooms/${enc(roomId)}/event/${enc(ids[2]!)}`), 404, "M_NOT_FOUND");
  });

  it("redacts events per the room version and checks the redact level", async () => {
    const roomId = await createRoom(alice, { preset: "public_chat" });
    await act(bob, roomId, "join");
    const own = (await send(bob, roomId, { body: "oops", msgtype: "m.text" })).body.event_id as string;
    const alices = (await send(alice, roomId, { body: "alice's" })).body.event_id as string;
    const red = await s.call("PUT", `${V3}/rooms/${enc(roomId)}/redact/${enc(own)}/r1`, {
      token: bob.accessToken,
      body: { reason: "typo" },
    });
    expect(red.status).toBe(200);
    const retry = await s.call("PUT", `${V3}/rooms/${enc(roomId)}/redact/${enc(own)}/r1`, {
      token: bob.accessToken,
      body: { reason: "typo" },
    });
    expect(retry.body.event_id).toBe(red.body.event_id);
    const ev = (await get(alice, `/rooms/${enc(roomId)}/event/${enc(own)}`)).body as unknown as Ev;
    expect(ev.content).toEqual({});
    expect((ev.unsigned!.redacted_because as Ev).event_id).toBe(red.body.event_id);
    const redaction = (await get(alice, `/rooms/${enc(roomId)}/event/${enc(red.body.event_id as string)}`))
      .body;
    expect(redaction).toMatchObject({ type: "m.room.redaction", redacts: own, content: { reason: "typo" } });
    expectError(
      await s.call("PUT", `${V3}/rooms/${enc(roomId)}/redact/${enc(alices)}/r2`, {
        token: bob.accessToken,
        body: {},
      }),
      403,
      "M_FORBIDDEN",
    );
    expectError(
      await s.call("PUT", `${V3}/rooms/${enc(roomId)}/redact/${enc("$nope")}/r3`, {
        token: alice.accessToken,
        body: {},
      }),
      404,
      "M_NOT_FOUND",
    );
    // Admins redact anyone's events; a redacted member event keeps its membership.
    expect(
      (
        await s.call("PUT", `${V3}/rooms/${enc(roomId)}/redact/${enc(alices)}/r4`, {
          token: alice.accessToken,
          body: {},
        })
      ).status,
    ).toBe(200);
    const memberId = (await s.rooms.snapshot(roomId))!.get("m.room.member", bob.userId)!.eventId;
    await s.call("PUT", `${V3}/rooms/${enc(roomId)}/redact/${enc(memberId)}/r5`, {
      token: alice.accessToken,
      body: {},
    });
    expect((await get(alice, `/rooms/${enc(roomId)}/state/m.room.member/${enc(bob.userId)}`)).body).toEqual({
      membership: "join",
    });
    // Room version 11 carries `redacts` in content (and at the top level for clients).
    const v11 = await createRoom(alice, { room_version: "11" });
    const target = (await send(alice, v11, { body: "x" })).body.event_id as string;
    const r11 = await s.call("PUT", `${V3}/rooms/${enc(v11)}/redact/${enc(target)}/r6`, {
      token: alice.accessToken,
      body: {},
    });
    const e11 = (await get(alice, `/rooms/${enc(v11)}/event/${enc(r11.body.event_id as string)}`)).body;
    expect(e11).toMatchObject({ redacts: target, content: { redacts: target } });
  });

  it("applies history visibility to /messages, /event, /state and /members", async () => {
    const roomId = await createRoom(alice, { preset: "public_chat" });
    await putState(alice, roomId, "m.room.history_visibility", "", { history_visibility: "joined" });
    const early = (await send(alice, roomId, { body: "before carol" })).body.event_id as string;
    // Not a member: no history, no state.
    expectError(await messages(carol, roomId, "dir=b"), 403, "M_FORBIDDEN");
    expectError(await get(carol, `/rooms/${enc(roomId)}/state`), 403, "M_FORBIDDEN");
    expectError(await get(carol, `/rooms/${enc(roomId)}/members`), 403, "M_FORBIDDEN");
    expectError(await get(carol, `/rooms/${enc(roomId)}/event/${enc(early)}`), 404, "M_NOT_FOUND");
    await act(carol, roomId, "join");
    const late = (await send(alice, roomId, { body: "after carol" })).body.event_id as string;
    const seen = (await messages(carol, roomId, "dir=b&limit=50")).body.chunk.map((e) => e.event_id);
    expect(seen).toContain(late);
    expect(seen).not.toContain(early);
    expectError(await get(carol, `/rooms/${enc(roomId)}/event/${enc(early)}`), 404, "M_NOT_FOUND");
    // After leaving, carol keeps what she saw but nothing new.
    await act(carol, roomId, "leave");
    const afterLeave = (await send(alice, roomId, { body: "after carol left" })).body.event_id as string;
    await putState(alice, roomId, "m.room.topic", "", { topic: "new topic" });
    const left = (await messages(carol, roomId, "dir=b&limit=50")).body.chunk.map((e) => e.event_id);
    expect(left).toContain(late);
    expect(left).not.toContain(afterLeave);
    const st = (await get(carol, `/rooms/${enc(roomId)}/state`)).body as unknown as Ev[];
    expect(st.find((e) => e.type === "m.room.topic")).toBeUndefined();
    // Under shared, history before joining is visible.
    const shared = await createRoom(alice, { preset: "public_chat" });
    const old = (await send(alice, shared, { body: "old" })).body.event_id as string;
    await act(bob, shared, "join");
    expect((await get(bob, `/rooms/${enc(shared)}/event/${enc(old)}`)).status).toBe(200);
    // world_readable lets non-members read.
    await putState(alice, shared, "m.room.history_visibility", "", { history_visibility: "world_readable" });
    expect((await messages(carol, shared, "dir=b")).status).toBe(200);
  });

  it("lists members with at, membership and not_membership", async () => {
    const roomId = await createRoom(alice, { preset: "public_chat" });
    const before = s.ctx.streams.current();
    await act(bob, roomId, "join");
    await act(alice, roomId, "invite", { user_id: carol.userId });
    const all = (await get(alice, `/rooms/${enc(roomId)}/members`)).body.chunk as Ev[];
    expect(all.map((e) => e.state_key).sort()).toEqual([alice.userId, bob.userId, carol.userId].sort());
    const joined = (await get(alice, `/rooms/${enc(roomId)}/members?membership=join`)).body.chunk as Ev[];
    expect(joined.map((e) => e.state_key).sort()).toEqual([alice.userId, bob.userId].sort());
    const notJoined = (await get(alice, `/rooms/${enc(roomId)}/members?not_membership=join`)).body
      .chunk as Ev[];
    expect(notJoined.map((e) => e.state_key)).toEqual([carol.userId]);
    const at = (await get(alice, `/rooms/${enc(roomId)}/members?at=s${before}_0`)).body.chunk as Ev[];
    expect(at.map((e) => e.state_key)).toEqual([alice.userId]);
  });

  it("manages aliases and the room directory", async () => {
    const roomId = await createRoom(alice, {
      preset: "public_chat",
      room_alias_name: "lobby",
      visibility: "public",
      name: "The Lobby",
    });
    const alias = "#lobby:localhost";
    const resolved = await s.call("GET", `${V3}/directory/room/${enc(alias)}`);
    expect(resolved.body).toEqual({ room_id: roomId, servers: ["localhost"] });
    expect((await get(alice, `/rooms/${enc(roomId)}/state/m.room.canonical_alias`)).body).toEqual({ alias });
    const taken = await s.call("POST", `${V3}/createRoom`, {
      token: bob.accessToken,
      body: { room_alias_name: "lobby" },
    });
    expectError(taken, 400, "M_ROOM_IN_USE");
    // Joining by alias.
    expect(
      (await s.call("POST", `${V3}/join/${enc(alias)}`, { token: bob.accessToken, body: {} })).body.room_id,
    ).toBe(roomId);
    expectError(
      await s.call("POST", `${V3}/join/${enc("#missing:localhost")}`, { token: bob.accessToken, body: {} }),
      404,
      "M_NOT_FOUND",
    );
    // Extra alias by a member; duplicates conflict.
    const extra = "#lobby2:localhost";
    expect(
      (
        await s.call("PUT", `${V3}/directory/room/${enc(extra)}`, {
          token: bob.accessToken,
          body: { room_id: roomId },
        })
      ).status,
    ).toBe(200);
    expectError(
      await s.call("PUT", `${V3}/directory/room/${enc(extra)}`, {
        token: alice.accessToken,
        body: { room_id: roomId },
      }),
      409,
      "M_UNKNOWN",
    );
    expectError(
      await s.call("PUT", `${V3}/directory/room/${enc("#x:elsewhere.org")}`, {
        token: alice.accessToken,
        body: { room_id: roomId },
      }),
      400,
      "M_INVALID_PARAM",
    );
    expect(((await get(alice, `/rooms/${enc(roomId)}/aliases`)).body.aliases as string[]).sort()).toEqual(
      [alias, extra].sort(),
    );
    expectError(await get(carol, `/rooms/${enc(roomId)}/aliases`), 403, "M_FORBIDDEN");
    // canonical_alias may only name aliases of this room.
    expectError(
      await putState(alice, roomId, "m.room.canonical_alias", "", { alias: "#nope:localhost" }),
      400,
      "M_BAD_ALIAS",
    );
    expectError(
      await putState(alice, roomId, "m.room.canonical_alias", "", {
        alias,
        alt_aliases: ["%not-an-alias:localhost"],
      }),
      400,
      "M_INVALID_PARAM",
    );
    expectError(
      await putState(alice, roomId, "m.room.canonical_alias", "", {
        alias,
        alt_aliases: ["#nope:localhost"],
      }),
      400,
      "M_BAD_ALIAS",
    );
    expect(
      (await putState(alice, roomId, "m.room.canonical_alias", "", { alias, alt_aliases: [extra] })).status,
    ).toBe(200);
    // Deleting: not bob's to delete (alice created it, bob has no power), alice may delete bob's.
    expectError(
      await s.call("DELETE", `${V3}/directory/room/${enc(alias)}`, { token: bob.accessToken }),
      403,
      "M_FORBIDDEN",
    );
    expect(
      (await s.call("DELETE", `${V3}/directory/room/${enc(extra)}`, { token: alice.accessToken })).status,
    ).toBe(200);
    expectError(await s.call("GET", `${V3}/directory/room/${enc(extra)}`), 404, "M_NOT_FOUND");
    // The deleted alias left the canonical alias event; the remaining one stays, and can be set again.
    const canonical = await get(alice, `/rooms/${enc(roomId)}/state/m.room.canonical_alias`);
    expect(canonical.body).toEqual({ alias, alt_aliases: [] });
    expect((await putState(alice, roomId, "m.room.canonical_alias", "", { alias })).status).toBe(200);
    const second = "#second-lobby:localhost";
    await s.call("PUT", `${V3}/directory/room/${enc(second)}`, {
      token: alice.accessToken,
      body: { room_id: roomId },
    });
    expect((await putState(alice, roomId, "m.room.canonical_alias", "", { alias: second })).status).toBe(200);
    expect(
      (await s.call("DELETE", `${V3}/directory/room/${enc(second)}`, { token: alice.accessToken })).status,
    ).toBe(200);
    expect((await get(alice, `/rooms/${enc(roomId)}/state/m.room.canonical_alias`)).body).toEqual({});
    expect((await putState(alice, roomId, "m.room.canonical_alias", "", { alias })).status).toBe(200);
    // Public room list shows public rooms only.
    const priv = await createRoom(alice, { name: "Secret" });
    const list = await s.call("GET", `${V3}/publicRooms`);
    const listed = list.body.chunk as { room_id: string; name?: string; num_joined_members: number }[];
    expect(listed.find((r) => r.room_id === roomId)).toMatchObject({
      name: "The Lobby",
      num_joined_members: 2,
      canonical_alias: alias,
    });
    expect(listed.find((r) => r.room_id === priv)).toBeUndefined();
    const search = await s.call("POST", `${V3}/publicRooms`, {
      token: alice.accessToken,
      body: { filter: { generic_search_term: "lobby" } },
    });
    expect((search.body.chunk as unknown[]).length).toBe(1);
    expect((await s.call("GET", `${V3}/directory/list/room/${enc(priv)}`)).body).toEqual({
      visibility: "private",
    });
    expectError(
      await s.call("PUT", `${V3}/directory/list/room/${enc(priv)}`, {
        token: bob.accessToken,
        body: { visibility: "public" },
      }),
      403,
      "M_FORBIDDEN",
    );
    expect(
      (
        await s.call("PUT", `${V3}/directory/list/room/${enc(priv)}`, {
          token: alice.accessToken,
          body: { visibility: "public" },
        })
      ).status,
    ).toBe(200);
    expect((await s.call("GET", `${V3}/directory/list/room/${enc(priv)}`)).body).toEqual({
      visibility: "public",
    });
  });

  it("publishes its signing key; stored events carry their content hash, signature and reference-hash id", async () => {
    const keys = await s.call("GET", "/_matrix/key/v2/server");
    expect(keys.status).toBe(200);
    const verifyKeys = keys.body.verify_keys as Record<string, { key: string }>;
    const [keyId, { key }] = Object.entries(verifyKeys)[0]!;
    const publicKey = createPublicKey({
      key: Buffer.concat([Buffer.from("302a300506032b6570032100", "hex"), Buffer.from(key, "base64")]),
      format: "der",
      type: "spki",
    });
    const check = (bytes: string, sig: string) =>
      verify(null, Buffer.from(bytes), publicKey, Buffer.from(sig, "base64"));
    const { signatures, ...unsignedKeys } = keys.body as {
      signatures: Record<string, Record<string, string>>;
    };
    expect(check(canonicalJson(unsignedKeys), signatures.localhost![keyId]!)).toBe(true);

    const roomId = await createRoom(alice, { room_version: "11" });
    const id = (await send(alice, roomId, { body: "signed" })).body.event_id as string;
    const pdu = JSON.parse((await s.rooms.repo.getEvent(id))!.pdu) as Record<string, unknown> & {
      hashes: { sha256: string };
      signatures: Record<string, Record<string, string>>;
    };
    expect(contentHash(pdu)).toBe(pdu.hashes.sha256);
    expect(check(redactedSigningBytes(pdu, "11"), pdu.signatures.localhost![keyId]!)).toBe(true);
    expect(referenceHashEventId(redactedSigningBytes(pdu, "11"))).toBe(id);
    // The stored form of a redacted event keeps the same signature and id.
    await s.call("PUT", `${V3}/rooms/${enc(roomId)}/redact/${enc(id)}/sig1`, {
      token: alice.accessToken,
      body: {},
    });
    const redacted = JSON.parse((await s.rooms.repo.getEvent(id))!.pdu) as typeof pdu;
    expect(redacted.content).toEqual({});
    expect(check(redactedSigningBytes(redacted, "11"), redacted.signatures.localhost![keyId]!)).toBe(true);
    expect(referenceHashEventId(redactedSigningBytes(redacted, "11"))).toBe(id);
  });

  it("creates a room all or nothing when two creations race for one alias", async () => {
    const erin = await s.register("erin");
    const body = { room_alias_name: "contested", name: "race" };
    const results = await Promise.all([
      s.call("POST", `${V3}/createRoom`, { token: erin.accessToken, body }),
      s.call("POST", `${V3}/createRoom`, { token: erin.accessToken, body }),
    ]);
    expect(results.map((r) => r.status).sort()).toEqual([200, 400]);
    expect(results.find((r) => r.status === 400)!.body.errcode).toBe("M_ROOM_IN_USE");
    // The loser left nothing behind: erin is in exactly one room, and it owns the alias.
    const winner = results.find((r) => r.status === 200)!.body.room_id;
    expect((await get(erin, "/joined_rooms")).body.joined_rooms).toEqual([winner]);
    const rooms = await s.rooms.repo.membershipsOf(erin.userId);
    expect(rooms.map((m) => m.room_id)).toEqual([winner]);
  });

  it("maps bad input to Matrix errors without writing", async () => {
    const roomId = await createRoom(alice);
    const before = await messages(alice, roomId, "dir=b&limit=100");
    expectError(await send(alice, "not-a-room", { body: "x" }), 400, "M_INVALID_PARAM");
    expectError(await get(alice, `/rooms/${enc("!nocolon")}/state`), 400, "M_INVALID_PARAM");
    expectError(await send(alice, "!unknown:localhost", { body: "x" }), 403, "M_FORBIDDEN");
    expectError(await act(alice, "!unknown:localhost", "join"), 404, "M_NOT_FOUND");
    expectError(await get(alice, `/rooms/${enc("!unknown:localhost")}/messages`), 403, "M_FORBIDDEN");
    expectError(await act(alice, roomId, "invite", { user_id: "bob" }), 400, "M_INVALID_PARAM");
    expectError(await act(alice, roomId, "invite", { user_id: "@bob:elsewhere.org" }), 403, "M_FORBIDDEN");
    expectError(await act(alice, roomId, "invite", {}), 400, "M_BAD_JSON");
    expectError(
      await s.call("PUT", `${V3}/rooms/${enc(roomId)}/send/m.room.message/bad1`, {
        token: alice.accessToken,
        raw: "{nope",
      }),
      400,
      "M_NOT_JSON",
    );
    expectError(
      await s.call("PUT", `${V3}/rooms/${enc(roomId)}/send/m.room.message/bad2`, {
        token: alice.accessToken,
        raw: "[1]",
      }),
      400,
      "M_BAD_JSON",
    );
    expectError(await send(alice, roomId, { body: "x", n: 1.5 }), 400, "M_BAD_JSON");
    expectError(await send(alice, roomId, { body: "x".repeat(70 * 1024) }), 413, "M_TOO_LARGE");
    expectError(await send(alice, roomId, { body: "x".repeat(64 * 1024 - 100) }), 413, "M_TOO_LARGE");
    expectError(await get(alice, `/rooms/${enc(roomId)}/event/${enc("$missing")}`), 404, "M_NOT_FOUND");
    expectError(await get(alice, `/rooms/${enc(roomId)}/event/nodollar`), 400, "M_INVALID_PARAM");
    expectError(
      await putState(alice, roomId, "m.room.create", "", { creator: alice.userId }),
      403,
      "M_FORBIDDEN",
    );
    expectError(
      await s.call("POST", `${V3}/createRoom`, { token: alice.accessToken, body: { invite: ["nope"] } }),
      400,
      "M_INVALID_PARAM",
    );
    expectError(
      await s.call("POST", `${V3}/createRoom`, {
        token: alice.accessToken,
        body: { invite_3pid: [{ medium: "email", address: "a.b.c", id_server: "x", id_access_token: "y" }] },
      }),
      400,
      "M_BAD_JSON",
    );
    expectError(
      await s.call("POST", `${V3}/createRoom`, { token: alice.accessToken, body: { preset: "open" } }),
      400,
      "M_BAD_JSON",
    );
    expectError(
      await s.call("POST", `${V3}/createRoom`, { token: alice.accessToken, raw: "nope" }),
      400,
      "M_NOT_JSON",
    );
    expectError(await s.call("GET", `${V3}/rooms/${enc(roomId)}/state`), 401, "M_MISSING_TOKEN");
    const after = await messages(alice, roomId, "dir=b&limit=100");
    expect(after.body.chunk.length).toBe(before.body.chunk.length);
  });

  it("fills /sync: initial, incremental, invites, leaves and prev_batch", async () => {
    const provider = s.ctx.syncProviders.find((p) => p.name === "rooms")!;
    const engine = new SyncEngine([provider], s.ctx.streams, s.ctx.notifier, s.ctx.ephemeral, async () => []);
    const dave = await s.register("dave");
    const sync = (since: SyncResponse | null, filter: Record<string, unknown> = {}) =>
      engine.sync({
        userId: dave.userId,
        deviceId: dave.deviceId,
        since: since?.next_batch ?? null,
        timeoutMs: 0,
        fullState: false,
        filter,
      });
    const roomId = await createRoom(alice, { preset: "public_chat", name: "sync room" });
    for (let i = 0; i < 12; i++) await send(alice, roomId, { body: `s${i}` });
    await act(dave, roomId, "join");
    const initial = await sync(null);
    const room = initial.rooms!.join![roomId] as {
      timeline: { events: Ev[]; limited: boolean; prev_batch: string };
      state: { events: Ev[] };
      summary: Record<string, unknown>;
    };
    expect(room.timeline.events).toHaveLength(10);
    expect(room.timeline.limited).toBe(true);
    expect(room.timeline.events.at(-1)!.state_key).toBe(dave.userId);
    expect(room.state.events.some((e) => e.type === "m.room.name")).toBe(true);
    // A named room's summary has no heroes (the spec asks for them only in unnamed rooms).
    expect(room.summary).toEqual({ "m.joined_member_count": 2, "m.invited_member_count": 0 });
    // prev_batch continues backwards with /messages.
    const back = await messages(dave, roomId, `dir=b&limit=2&from=${room.timeline.prev_batch}`);
    expect(back.body.chunk.map((e) => e.content.body)).toEqual(["s2", "s1"]);
    // Incremental: only the new event, no state.
    const e1 = (await send(alice, roomId, { body: "new" }, "m.room.message", "inc1")).body.event_id;
    const inc = await sync(initial);
    const incRoom = inc.rooms!.join![roomId] as {
      timeline: { events: Ev[]; limited: boolean };
      state: { events: Ev[] };
    };
    expect(incRoom.timeline.events.map((e) => e.event_id)).toEqual([e1]);
    expect(incRoom.timeline.limited).toBe(false);
    expect(incRoom.state.events).toEqual([]);
    // Membership did not change, so the summary is left out (the spec allows omitting unchanged fields)...
    expect((incRoom as { summary?: unknown }).summary).toBeUndefined();
    // ...and comes back, with the new counts, once it does.
    const frank = await s.register("frank");
    await act(frank, roomId, "join");
    const withJoin = await sync(inc);
    expect((withJoin.rooms!.join![roomId] as { summary?: unknown }).summary).toEqual({
      "m.joined_member_count": 3,
      "m.invited_member_count": 0,
    });
    // An unnamed room's summary names its heroes.
    const unnamed = await createRoom(alice, { preset: "public_chat" });
    await act(frank, unnamed, "join");
    await act(dave, unnamed, "join");
    const heroesSync = await sync(withJoin);
    expect((heroesSync.rooms!.join![unnamed] as { summary?: unknown }).summary).toEqual({
      "m.heroes": [alice.userId, frank.userId].sort(),
      "m.joined_member_count": 3,
      "m.invited_member_count": 0,
    });
    // An invite appears with stripped state; a leave appears in rooms.leave.
    const priv = await createRoom(alice, { name: "private", invite: [dave.userId] });
    const withInvite = await sync(withJoin);
    const inv = withInvite.rooms!.invite![priv] as {
      invite_state: { events: { type: string; state_key?: string; content: Record<string, unknown> }[] };
    };
    expect(inv.invite_state.events.find((e) => e.type === "m.room.name")!.content).toEqual({
      name: "private",
    });
    const invMembers = inv.invite_state.events.filter((e) => e.type === "m.room.member");
    expect(invMembers.find((e) => e.state_key === dave.userId)!.content.membership).toBe("invite");
    // As Synapse: the inviter's member event too.
    expect(invMembers.find((e) => e.state_key === alice.userId)!.content.membership).toBe("join");
    await act(dave, roomId, "leave");
    const withLeave = await sync(withInvite);
    const lv = withLeave.rooms!.leave![roomId] as { timeline: { events: Ev[] } };
    expect(lv.timeline.events.at(-1)!.content.membership).toBe("leave");
    expect(withLeave.rooms!.join?.[roomId]).toBeUndefined();
    // A limited incremental sync carries the state changes its timeline does not show.
    const other = await createRoom(alice, { preset: "public_chat" });
    await act(dave, other, "join");
    const beforeGap = await sync(withLeave);
    await putState(alice, other, "m.room.topic", "", { topic: "changed in the gap" });
    for (let i = 0; i < 12; i++) await send(alice, other, { body: `gap${i}` });
    const gap = await sync(beforeGap);
    const gapRoom = gap.rooms!.join![other] as {
      timeline: { events: Ev[]; limited: boolean };
      state: { events: Ev[] };
    };
    expect(gapRoom.timeline.limited).toBe(true);
    expect(gapRoom.state.events.map((e) => e.type)).toEqual(["m.room.topic"]);
    // A rejected invite shows up as a leave with the user's own leave event.
    const inviteOnly = await createRoom(alice, { invite: [dave.userId] });
    const invitedSync = await sync(gap);
    expect(invitedSync.rooms!.invite![inviteOnly]).toBeDefined();
    await act(dave, inviteOnly, "leave");
    const rejected = await sync(invitedSync);
    const rj = rejected.rooms!.leave![inviteOnly] as { timeline: { events: Ev[] } };
    expect(rj.timeline.events.map((e) => [e.state_key, e.content.membership])).toEqual([
      [dave.userId, "leave"],
    ]);
    // Lazy-loaded members: only the timeline's senders (and the user), also in incremental syncs.
    const lazyRoom = await createRoom(alice, { preset: "public_chat" });
    await act(bob, lazyRoom, "join");
    await act(carol, lazyRoom, "join");
    await act(dave, lazyRoom, "join");
    await send(alice, lazyRoom, { body: "from alice" });
    const lazyFilter = {
      room: { rooms: [lazyRoom], state: { lazy_load_members: true }, timeline: { limit: 1 } },
    };
    const lazy1 = await sync(null, lazyFilter);
    const members1 = (lazy1.rooms!.join![lazyRoom] as { state: { events: Ev[] } }).state.events
      .filter((e) => e.type === "m.room.member")
      .map((e) => e.state_key)
      .sort();
    expect(members1).toEqual([alice.userId, dave.userId].sort());
    await send(bob, lazyRoom, { body: "from bob" });
    const lazy2 = await sync(lazy1, lazyFilter);
    const state2 = (lazy2.rooms!.join![lazyRoom] as { state: { events: Ev[] } }).state.events;
    expect(state2.map((e) => e.state_key)).toEqual([bob.userId]);
    // Filters: timeline limit and not_rooms.
    const filtered = await sync(null, { room: { timeline: { limit: 1 }, not_rooms: [priv] } });
    expect(filtered.rooms?.invite?.[priv]).toBeUndefined();
    // Rooms read together (one query for all) answer as rooms read one by one.
    const together = await sync(null, { room: { timeline: { limit: 3 } } });
    const joinedIds = Object.keys(together.rooms!.join!);
    expect(joinedIds.length).toBeGreaterThan(1);
    for (const id of joinedIds) {
      const alone = await sync(null, { room: { rooms: [id], timeline: { limit: 3 } } });
      const ids = (r: SyncResponse) => {
        const room = r.rooms!.join![id] as { timeline: { events: Ev[] }; state: { events: Ev[] } };
        return {
          timeline: room.timeline.events.map((e) => e.event_id),
          state: room.state.events.map((e) => e.event_id).sort(),
        };
      };
      expect(ids(together)).toEqual(ids(alone));
    }
    const withLeaveFilter = await sync(null, { room: { include_leave: true, timeline: { limit: 3 } } });
    expect(
      (withLeaveFilter.rooms!.leave![roomId] as { timeline: { events: Ev[] } }).timeline.events,
    ).toHaveLength(3);
  });
});
