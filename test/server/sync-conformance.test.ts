import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestServer, type TestServer } from "../helpers/server.ts";

/**
 * /sync scenarios of the Matrix conformance suite (sytest 31sync/03joined, 06state,
 * 15lazy-members and neighbours), each replayed over HTTP with the suite's expectations.
 */
type Who = { userId: string; deviceId: string; accessToken: string };
type Ev = {
  type: string;
  sender: string;
  state_key?: string;
  event_id: string;
  content: Record<string, unknown>;
};
type Room = {
  timeline: { events: Ev[]; limited: boolean; prev_batch: string };
  state: { events: Ev[] };
  summary?: Record<string, unknown>;
};
type Sync = {
  next_batch: string;
  rooms?: { join?: Record<string, Room>; leave?: Record<string, Room> };
  presence?: { events: { type: string; sender: string; content: Record<string, unknown> }[] };
};

const V3 = "/_matrix/client/v3";
let s: TestServer;
let txn = 0;

beforeAll(async () => {
  s = await startTestServer();
});
afterAll(async () => {
  await s?.close();
});

const ok = async (method: string, path: string, who: Who, body?: unknown) => {
  const r = await s.call(method, path, { token: who.accessToken, body });
  if (r.status !== 200) throw new Error(`${method} ${path}: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body;
};
const users = (n: number) => Promise.all(Array.from({ length: n }, () => s.register()));
const createRoom = async (who: Who, body: Record<string, unknown> = { preset: "public_chat" }) =>
  (await ok("POST", `${V3}/createRoom`, who, body)).room_id as string;
const join = (who: Who, room: string) => ok("POST", `${V3}/join/${room}`, who, {});
const leave = (who: Who, room: string) => ok("POST", `${V3}/rooms/${room}/leave`, who, {});
const invite = (who: Who, room: string, target: Who) =>
  ok("POST", `${V3}/rooms/${room}/invite`, who, { user_id: target.userId });
const putState = async (who: Who, room: string, type: string, key: string, content: unknown) =>
  (await ok("PUT", `${V3}/rooms/${room}/state/${type}/${encodeURIComponent(key)}`, who, content))
    .event_id as string;
const say = async (who: Who, room: string, body: string) =>
  (await ok("PUT", `${V3}/rooms/${room}/send/m.room.message/t${++txn}`, who, { msgtype: "m.text", body }))
    .event_id as string;
const filler = async (who: Who, room: string, n: number) => {
  for (let i = 1; i <= n; i++)
    await ok("PUT", `${V3}/rooms/${room}/send/a.made.up.filler.type/t${++txn}`, who, { filler: i });
};
const makeFilter = async (who: Who, filter: unknown) =>
  (await ok("POST", `${V3}/user/${encodeURIComponent(who.userId)}/filter`, who, filter)).filter_id as string;
const sync = async (who: Who, opts: { since?: string; filter?: string } = {}) => {
  const q = new URLSearchParams({ timeout: "0" });
  if (opts.since) q.set("since", opts.since);
  if (opts.filter) q.set("filter", opts.filter);
  return (await ok("GET", `${V3}/sync?${q}`, who)) as unknown as Sync;
};
/** Member events of the room's state section, as user → membership. */
const members = (body: Sync, room: string): Record<string, string> =>
  Object.fromEntries(
    (body.rooms?.join?.[room]?.state.events ?? [])
      .filter((e) => e.type === "m.room.member")
      .map((e) => [e.state_key!, e.content.membership as string]),
  );
const LL = { room: { state: { lazy_load_members: true }, timeline: { limit: 10 } } };

describe("lazy-loaded members in incremental syncs (15lazy-members)", () => {
  /** A public room with a name, `joiners` joined. */
  const room = async (alice: Who, ...joiners: Who[]) => {
    const id = await createRoom(alice);
    await putState(alice, id, "m.room.name", "", { name: "A room name" });
    for (const u of joiners) await join(u, id);
    return id;
  };

  it("gapped incremental syncs include all state changes: members who joined or left in the gap", async () => {
    const [alice, bob, charlie, dave] = await users(4);
    const f = await makeFilter(alice, LL);
    const id = await room(alice, bob, charlie);
    await filler(bob, id, 10);
    const first = await sync(alice, { filter: f });
    expect(members(first, id)).toEqual({ [alice.userId]: "join", [bob.userId]: "join" });

    await join(dave, id);
    await filler(charlie, id, 20);
    const second = await sync(alice, { filter: f, since: first.next_batch });
    expect(second.rooms?.join?.[id]?.timeline.limited).toBe(true);
    // Charlie speaks in the timeline; Dave joined in the gap, silent.
    expect(members(second, id)).toEqual({ [charlie.userId]: "join", [dave.userId]: "join" });

    await leave(dave, id);
    await filler(charlie, id, 20);
    const third = await sync(alice, { filter: f, since: second.next_batch });
    // Charlie's membership was sent by the previous sync: only Dave's leave is new.
    expect(members(third, id)).toEqual({ [dave.userId]: "leave" });
  });

  it("old leaves are present in gapped incremental syncs", async () => {
    const [alice, bob, charlie] = await users(3);
    const f = await makeFilter(alice, LL);
    const id = await room(alice, bob, charlie);
    await say(charlie, id, "Hello world");
    await filler(bob, id, 10);
    const first = await sync(alice, { filter: f });
    expect(members(first, id)).toEqual({ [alice.userId]: "join", [bob.userId]: "join" });
    await leave(charlie, id);
    await filler(bob, id, 10);
    const second = await sync(alice, { filter: f, since: first.next_batch });
    expect(second.rooms?.join?.[id]?.timeline.limited).toBe(true);
    expect(members(second, id)).toEqual({ [charlie.userId]: "leave" });
  });

  it("leaves are present in non-gapped incremental syncs", async () => {
    const [alice, bob, charlie] = await users(3);
    const f = await makeFilter(alice, LL);
    const id = await room(alice, bob, charlie);
    await say(charlie, id, "Hello world");
    await filler(bob, id, 10);
    const first = await sync(alice, { filter: f });
    await leave(charlie, id);
    await filler(bob, id, 5);
    const second = await sync(alice, { filter: f, since: first.next_batch });
    expect(second.rooms?.join?.[id]?.timeline.limited).toBe(false);
    const timelineLeave = second.rooms?.join?.[id]?.timeline.events.some(
      (e) => e.type === "m.room.member" && e.state_key === charlie.userId && e.content.membership === "leave",
    );
    expect(timelineLeave).toBe(true);
    expect(Object.values(members(second, id)).filter((m) => m === "join")).toEqual([]);
  });

  it("old members who start speaking, and members from the gap, are included in a gappy LL sync", async () => {
    const [alice, bob, charlie, dave] = await users(4);
    const f = await makeFilter(alice, LL);
    const id = await room(alice, bob, charlie);
    await filler(bob, id, 10);
    const first = await sync(alice, { filter: f });
    expect(members(first, id)).toEqual({ [alice.userId]: "join", [bob.userId]: "join" });
    await join(dave, id);
    await filler(charlie, id, 10);
    const second = await sync(alice, { filter: f, since: first.next_batch });
    expect(members(second, id)).toEqual({ [charlie.userId]: "join", [dave.userId]: "join" });
  });

  it("does not resend a member already sent to the device, unless include_redundant_members", async () => {
    const [alice, bob, charlie] = await users(3);
    const plain = await makeFilter(alice, LL);
    const redundant = await makeFilter(alice, {
      room: { state: { lazy_load_members: true, include_redundant_members: true }, timeline: { limit: 10 } },
    });
    const id = await room(alice, bob, charlie);
    await filler(bob, id, 10);
    await filler(charlie, id, 5);
    for (const [f, expected] of [
      [plain, {}],
      [redundant, { [bob.userId]: "join", [charlie.userId]: "join" }],
    ] as const) {
      const first = await sync(alice, { filter: f });
      expect(members(first, id)).toEqual({
        [alice.userId]: "join",
        [bob.userId]: "join",
        [charlie.userId]: "join",
      });
      await say(bob, id, "New message from bob");
      await say(charlie, id, "New message from charlie");
      const second = await sync(alice, { filter: f, since: first.next_batch });
      expect(members(second, id)).toEqual(expected);
    }
  });

  it("a sync retried with the same token gets the members its lost response carried", async () => {
    const [alice, bob, charlie] = await users(3);
    const f = await makeFilter(alice, LL);
    const id = await room(alice, bob, charlie);
    await filler(bob, id, 10);
    const first = await sync(alice, { filter: f });
    await say(charlie, id, "Message from charlie");
    const lost = await sync(alice, { filter: f, since: first.next_batch });
    expect(members(lost, id)).toEqual({ [charlie.userId]: "join" });
    const retried = await sync(alice, { filter: f, since: first.next_batch });
    expect(members(retried, id)).toEqual({ [charlie.userId]: "join" });
    // A token this server never answered for the device (another replica's chain): nothing is
    // taken as already sent.
    await say(bob, id, "Message from bob");
    const elsewhere = await sync(alice, {
      filter: f,
      since: `s${Number(first.next_batch.slice(1).split("_")[0]) - 1}_0`,
    });
    expect(members(elsewhere, id)[bob.userId]).toBe("join");
  });

  it("an incremental sync carries only the new timeline senders' members, then nothing", async () => {
    const [alice, bob, charlie] = await users(3);
    const f = await makeFilter(alice, LL);
    const id = await room(alice, bob, charlie);
    await filler(bob, id, 10);
    const first = await sync(alice, { filter: f });
    const types = first.rooms!.join![id]!.state.events.map((e) => `${e.type}|${e.state_key}`).sort();
    expect(types).toEqual(
      [
        "m.room.create|",
        "m.room.join_rules|",
        "m.room.power_levels|",
        "m.room.name|",
        "m.room.history_visibility|",
        `m.room.member|${alice.userId}`,
        `m.room.member|${bob.userId}`,
      ].sort(),
    );
    await say(charlie, id, "Message from charlie");
    const second = await sync(alice, { filter: f, since: first.next_batch });
    expect(second.rooms!.join![id]!.state.events.map((e) => e.state_key)).toEqual([charlie.userId]);
    const third = await sync(alice, { filter: f, since: second.next_batch });
    expect(third.rooms?.join ?? {}).toEqual({});
  });

  it("an initial sync over several rooms (their state read at once) carries each room's senders' members", async () => {
    const [alice, bob, charlie, dave] = await users(4);
    const f = await makeFilter(alice, LL);
    const one = await room(alice, bob, charlie, dave);
    const two = await room(alice, bob, charlie, dave);
    await filler(bob, one, 10);
    await filler(charlie, two, 9);
    await say(dave, two, "Message from dave");
    const lazy = await sync(alice, { filter: f });
    expect(members(lazy, one)).toEqual({ [alice.userId]: "join", [bob.userId]: "join" });
    expect(members(lazy, two)).toEqual({
      [alice.userId]: "join",
      [charlie.userId]: "join",
      [dave.userId]: "join",
    });
    // The same rooms without lazy loading: every member.
    const full = await sync(alice, { filter: JSON.stringify({ room: { timeline: { limit: 10 } } }) });
    const everyone = Object.fromEntries([alice, bob, charlie, dave].map((u) => [u.userId, "join"]));
    expect(members(full, one)).toEqual(everyone);
    expect(members(full, two)).toEqual(everyone);
  });
});

describe("state in incremental syncs (06state)", () => {
  it("a change to displayname filtered out of state and timeline leaves the room out", async () => {
    const [u] = await users(1);
    const f = await makeFilter(u!, {
      room: { timeline: { types: [] }, state: { types: ["a.madeup.test.state"] }, ephemeral: { types: [] } },
      presence: { types: [] },
    });
    const id = await createRoom(u!, {});
    await putState(u!, id, "a.madeup.test.state", "", { my_key: 1 });
    const first = await sync(u!, { filter: f });
    expect(first.rooms!.join![id]!.state.events).toHaveLength(1);
    await putState(u!, id, "m.room.member", u!.userId, { membership: "join", displayname: "boris" });
    await say(u!, id, "A message to wait on");
    const second = await sync(u!, { filter: f, since: first.next_batch });
    expect(Object.keys(second.rooms?.join ?? {})).toEqual([]);
  });

  it("a room joined and left in the same batch comes with its full state", async () => {
    const [a, b] = await users(2);
    const filter = {
      room: {
        timeline: { types: [] },
        state: { types: ["a.madeup.test.state"] },
        ephemeral: { types: [] },
        include_leave: true,
      },
      presence: { types: [] },
    };
    const fb = await makeFilter(b!, filter);
    const id = await createRoom(a!, {});
    await putState(a!, id, "a.madeup.test.state", "", { my_key: 1 });
    await invite(a!, id, b!);
    const first = await sync(b!, { filter: fb });
    await join(b!, id);
    await leave(b!, id);
    const second = await sync(b!, { filter: fb, since: first.next_batch });
    const state = second.rooms?.leave?.[id]?.state.events ?? [];
    expect(state.map((e) => [e.type, e.content.my_key])).toEqual([["a.madeup.test.state", 1]]);
  });

  /** Creator's room with history for joined members only; the syncer leaves, the invitee joins, the syncer rejoins. */
  const privateHistory = async (before: number, after: number) => {
    const [creator, syncer, invitee] = await users(3);
    const id = await createRoom(creator!);
    await join(syncer!, id);
    await putState(creator!, id, "m.room.history_visibility", "", { history_visibility: "joined" });
    await invite(creator!, id, invitee!);
    const first = await sync(syncer!);
    for (let i = 1; i <= before; i++) await say(creator!, id, `Message ${i}`);
    await leave(syncer!, id);
    await join(invitee!, id);
    for (let i = 1; i <= after; i++) await say(creator!, id, `Message ${i}`);
    await join(syncer!, id);
    const second = await sync(syncer!, { since: first.next_batch });
    return { timeline: second.rooms?.join?.[id]?.timeline.events ?? [], invitee: invitee! };
  };
  for (const [name, before, after] of [
    ["", 0, 0],
    [" with many messages before", 50, 0],
    [" with many messages after", 0, 50],
  ] as const) {
    it(`current state appears in the timeline in private history${name}`, async () => {
      const { timeline, invitee } = await privateHistory(before, after);
      const joinEvent = timeline.find(
        (e) =>
          e.type === "m.room.member" && e.state_key === invitee.userId && e.content.membership === "join",
      );
      expect(joinEvent).toBeDefined();
      // What the syncer could not see stays hidden: the creator's messages while they were away.
      if (after > 0) expect(timeline.filter((e) => e.type === "m.room.message")).toEqual([]);
    });
  }
});

describe("newly joined rooms in incremental syncs (03joined)", () => {
  it("a newly joined room's timeline is limited (there is no continuous history before it)", async () => {
    const [a, b] = await users(2);
    const f = await makeFilter(b!, {
      room: { timeline: { types: ["m.room.message"], limit: 10 }, state: { types: [] } },
    });
    const id = await createRoom(a!);
    for (let i = 0; i < 4; i++) await say(a!, id, `test1-${i}`);
    const first = await sync(b!, { filter: f });
    for (let i = 0; i < 4; i++) await say(a!, id, `test2-${i}`);
    await join(b!, id);
    const second = await sync(b!, { filter: f, since: first.next_batch });
    const timeline = second.rooms!.join![id]!.timeline;
    expect(timeline.events.every((e) => e.type === "m.room.message")).toBe(true);
    expect(timeline.limited).toBe(timeline.events.length !== 6);
  });

  it("a newly joined room brings its members' presence, once", async () => {
    const [a, b] = await users(2);
    const id = await createRoom(a!);
    const first = await sync(b!);
    await join(b!, id);
    const second = await sync(b!, { since: first.next_batch });
    const others = (second.presence?.events ?? []).filter((e) => e.sender !== b!.userId);
    expect(others.map((e) => [e.type, e.sender])).toEqual([["m.presence", a!.userId]]);
    const third = await sync(b!, { since: second.next_batch });
    expect(third.presence?.events ?? []).toEqual([]);
  });

  it("a member newly joined to one's room brings their presence", async () => {
    const [a, b] = await users(2);
    const id = await createRoom(a!);
    const first = await sync(a!);
    await say(a!, id, "Wait for presence changes caused by the first sync");
    const second = await sync(a!, { since: first.next_batch });
    await join(b!, id);
    const third = await sync(a!, { since: second.next_batch });
    const others = (third.presence?.events ?? []).filter((e) => e.sender !== a!.userId);
    expect(others.map((e) => [e.type, e.sender])).toEqual([["m.presence", b!.userId]]);
    const fourth = await sync(a!, { since: third.next_batch });
    expect(fourth.presence?.events ?? []).toEqual([]);
  });
});

describe("room summary (16room-summary)", () => {
  it("a named room has member counts and no heroes; the counts follow membership changes", async () => {
    const [a, b, c] = await users(3);
    const id = await createRoom(a!, { preset: "public_chat", name: "A room name" });
    const first = await sync(a!);
    expect(first.rooms!.join![id]!.summary).toEqual({
      "m.joined_member_count": 1,
      "m.invited_member_count": 0,
    });
    await join(b!, id);
    await invite(a!, id, c!);
    const second = await sync(a!, { since: first.next_batch });
    expect(second.rooms!.join![id]!.summary).toEqual({
      "m.joined_member_count": 2,
      "m.invited_member_count": 1,
    });
  });
});

describe("reading a room one is not (or no longer) in", () => {
  it("/messages of a departed room ends at the leave", async () => {
    const [a, b] = await users(2);
    const id = await createRoom(a!, { preset: "public_chat" });
    await join(b!, id);
    await say(a!, id, "M1. B's message before A left");
    await say(b!, id, "M2. B's message before A left");
    await leave(a!, id);
    await say(b!, id, "M3. B's message after A left");
    const r = await ok("GET", `${V3}/rooms/${id}/messages?limit=2&dir=b`, a!);
    const chunk = r.chunk as Ev[];
    expect(chunk[0]).toMatchObject({
      type: "m.room.member",
      state_key: a!.userId,
      content: { membership: "leave" },
    });
    expect(chunk[1]!.content.body).toBe("M2. B's message before A left");
    const forward = await ok("GET", `${V3}/rooms/${id}/messages?dir=f&limit=100`, a!);
    expect((forward.chunk as Ev[]).map((e) => e.content.body)).not.toContain("M3. B's message after A left");
  });

  it("/context in a room one was never in is refused with 403", async () => {
    const [a, b] = await users(2);
    const id = await createRoom(a!, {});
    const event = await say(a!, id, "hello, world");
    const r = await s.call("GET", `${V3}/rooms/${id}/context/${encodeURIComponent(event)}`, {
      token: b!.accessToken,
    });
    expect(r.status).toBe(403);
    expect(r.body.errcode).toBe("M_FORBIDDEN");
  });
});

describe("sync tokens in /messages (04timeline)", () => {
  it("a next_batch token pages forward in /messages", async () => {
    const [u] = await users(1);
    const f = await makeFilter(u!, { room: { timeline: { limit: 1 } } });
    const id = await createRoom(u!, {});
    const first = await say(u!, id, "1");
    const body = await sync(u!, { filter: f });
    expect(body.rooms!.join![id]!.timeline.events.map((e) => e.event_id)).toEqual([first]);
    const second = await say(u!, id, "2");
    const r = await ok(
      "GET",
      `/_matrix/client/r0/rooms/${id}/messages?dir=f&limit=1&from=${body.next_batch}`,
      u!,
    );
    expect((r.chunk as Ev[]).map((e) => e.event_id)).toEqual([second]);
    expect(typeof r.end).toBe("string");
  });
});
