import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SlidingExtensions } from "../../server/sliding/extensions/index.ts";
import type { ExtensionWindow } from "../../server/sliding/extensions/types.ts";
import type { ExtensionsRequest } from "../../server/sliding/schema.ts";
import type { SyncToken } from "../../sync/token.ts";
import { TestDevice } from "../crypto/olm-keys.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";

const V3 = "/_matrix/client/v3";
type Who = { userId: string; deviceId: string; accessToken: string };
type Event = { type: string; content: Record<string, unknown> };
type ToDevice = { next_batch: string; events: (Event & { sender: string })[] };
type E2ee = {
  device_lists?: { changed: string[]; left: string[] };
  device_one_time_keys_count: Record<string, number>;
  device_unused_fallback_key_types: string[];
};
type AccountData = { global: Event[]; rooms: Record<string, Event[]> };
type RoomEvents = { rooms: Record<string, Event> };

describe("sliding sync extensions (to_device, e2ee, account_data, receipts, typing)", () => {
  let s: TestServer;
  let ext: SlidingExtensions;
  let alice: Who;
  let bob: Who;
  let r1: string;
  let r2: string;
  let r3: string;

  const call = async (who: Who, method: string, path: string, body?: unknown) => {
    const r = await s.call(method, `${V3}${path}`, { token: who.accessToken, body });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    return r.body;
  };
  const now = (): SyncToken => s.sync.currentToken();
  let txn = 0;
  const toDevice = (from: Who, to: Who, n: number) =>
    call(from, "PUT", `/sendToDevice/m.test/t${++txn}`, {
      messages: { [to.userId]: { [to.deviceId]: { n } } },
    });
  const send = async (who: Who, roomId: string) =>
    (
      await call(who, "PUT", `/rooms/${roomId}/send/m.room.message/m${++txn}`, {
        body: "hi",
        msgtype: "m.text",
      })
    ).event_id as string;

  /** A window over alice's device: list "main" holds r1, the subscription r2; r3 is out of it. */
  function window(opts: {
    from?: SyncToken | null;
    since?: Record<string, SyncToken | null>;
    who?: Who;
  }): ExtensionWindow {
    const since = opts.since ?? { [r1]: null, [r2]: null };
    const who = opts.who ?? alice;
    return {
      userId: who.userId,
      deviceId: who.deviceId,
      from: opts.from ?? null,
      to: now(),
      lists: new Map([["main", [r1].filter((r) => r in since)]]),
      subscriptions: [r2].filter((r) => r in since),
      roomSince: new Map(Object.entries(since)),
      initialTimelines: new Map(),
    };
  }
  const compute = (req: ExtensionsRequest, w: ExtensionWindow) => ext.compute(req, w);

  beforeAll(async () => {
    s = await startTestServer();
    ext = new SlidingExtensions({
      keys: s.crypto.keys,
      accountData: s.client.accountData,
      receipts: s.client.receipts,
      typing: s.client.typing,
    });
    alice = await s.register();
    bob = await s.register();
    const rooms: string[] = [];
    for (let i = 0; i < 3; i++) {
      const r = await call(alice, "POST", "/createRoom", { preset: "public_chat" });
      rooms.push(r.room_id as string);
      await call(bob, "POST", `/join/${r.room_id}`, {});
    }
    [r1, r2, r3] = rooms as [string, string, string];
  });
  afterAll(async () => {
    await s.close();
  });

  it("omits what is absent or disabled", async () => {
    expect(await ext.compute(null, window({}))).toEqual({ extensions: {}, hasData: false });
    expect(await ext.compute(undefined, window({}))).toEqual({ extensions: {}, hasData: false });
    const r = await compute(
      { to_device: { enabled: false }, e2ee: { enabled: null }, typing: {}, receipts: { enabled: false } },
      window({}),
    );
    expect(r).toEqual({ extensions: {}, hasData: false });
  });

  it("to_device: pages by limit, acknowledges on since, and ignores pos", async () => {
    const carol = await s.register();
    for (let n = 1; n <= 3; n++) await toDevice(bob, carol, n);
    const req = (since?: string, limit?: number): ExtensionsRequest => ({
      to_device: { enabled: true, ...(since ? { since } : {}), ...(limit ? { limit } : {}) },
    });
    const numbers = (t: ToDevice) => t.events.map((e) => e.content.n);

    // No since: everything queued, and next_batch is the window's end.
    const all = await compute(req(), window({ who: carol }));
    const allTd = all.extensions.to_device as ToDevice;
    expect(numbers(allTd)).toEqual([1, 2, 3]);
    expect(allTd.events[0]!.sender).toBe(bob.userId);
    expect(allTd.next_batch).toBe(String(now().stream));
    expect(all.hasData).toBe(true);

    // A page of two stops at the second message's position, inside the window.
    const w = window({ who: carol });
    const page = (await compute(req(undefined, 2), w)).extensions.to_device as ToDevice;
    expect(numbers(page)).toEqual([1, 2]);
    expect(Number(page.next_batch)).toBeLessThan(w.to.stream);

    // since acknowledges the first page: the third follows, the first two are gone from the inbox.
    // The window has a from far past the messages: the to-device cursor alone decides.
    const rest = (await compute(req(page.next_batch, 2), window({ who: carol, from: now() }))).extensions
      .to_device as ToDevice;
    expect(numbers(rest)).toEqual([3]);
    const inbox = await s.crypto.keys.toDevice.pending(carol.userId, carol.deviceId, 0, now().stream);
    expect(inbox.map((m) => m.content)).toEqual([{ n: 3 }]);

    // Acknowledging the rest empties the inbox; a later request without since sees nothing.
    const done = await compute(req(rest.next_batch), window({ who: carol }));
    expect((done.extensions.to_device as ToDevice).events).toEqual([]);
    expect(done.hasData).toBe(false);
    expect((await compute(req(), window({ who: carol }))).extensions.to_device).toMatchObject({ events: [] });
    expect(await s.crypto.keys.toDevice.pending(carol.userId, carol.deviceId, 0, now().stream)).toEqual([]);

    // A since ahead of the server is echoed, with no events (a limit over 100 is not an error).
    const ahead = String(now().stream + 1000);
    const future = (await compute(req(ahead, 500), window({ who: carol }))).extensions.to_device as ToDevice;
    expect(future).toEqual({ next_batch: ahead, events: [] });
  });

  it("to_device: a since that is not a position is 400 M_INVALID_PARAM", async () => {
    for (const since of ["abc", "-1", "1.5", ""]) {
      await expect(compute({ to_device: { enabled: true, since } }, window({}))).rejects.toMatchObject({
        status: 400,
        errcode: "M_INVALID_PARAM",
      });
    }
  });

  it("to_device: caps a page at 100", async () => {
    const dave = await s.register();
    for (let n = 1; n <= 101; n++) await toDevice(bob, dave, n);
    const td = (await compute({ to_device: { enabled: true, limit: 1000 } }, window({ who: dave })))
      .extensions.to_device as ToDevice;
    expect(td.events).toHaveLength(100);
    const next = (
      await compute({ to_device: { enabled: true, since: td.next_batch } }, window({ who: dave }))
    ).extensions.to_device as ToDevice;
    expect(next.events.map((e) => e.content.n)).toEqual([101]);
  });

  it("e2ee: key counts always (signed_curve25519 0), device lists only with a from", async () => {
    const initial = await compute({ e2ee: { enabled: true } }, window({}));
    const e = initial.extensions.e2ee as E2ee;
    expect(e.device_lists).toBeUndefined();
    expect(e.device_one_time_keys_count).toEqual({ signed_curve25519: 0 });
    expect(e.device_unused_fallback_key_types).toEqual([]);
    // Key counts alone do not end a long-poll.
    expect(initial.hasData).toBe(false);

    const from = now();
    const nothing = (await compute({ e2ee: { enabled: true } }, window({ from }))).extensions.e2ee as E2ee;
    expect(nothing.device_lists).toEqual({ changed: [], left: [] });

    // Bob signs in on a second device: alice shares rooms with him.
    const login = await s.call("POST", `${V3}/login`, {
      body: {
        type: "m.login.password",
        identifier: { type: "m.id.user", user: bob.userId },
        password: "correct horse battery staple",
      },
    });
    expect(login.status).toBe(200);
    const dev = new TestDevice(alice.userId, alice.deviceId);
    await call(alice, "POST", "/keys/upload", {
      device_keys: dev.deviceKeys(),
      one_time_keys: dev.oneTimeKeys(3),
      fallback_keys: dev.fallbackKey(),
    });
    const changed = await compute({ e2ee: { enabled: true } }, window({ from }));
    const c = changed.extensions.e2ee as E2ee;
    expect(c.device_lists?.changed).toContain(bob.userId);
    expect(c.device_one_time_keys_count.signed_curve25519).toBe(3);
    expect(c.device_unused_fallback_key_types).toEqual(["signed_curve25519"]);
    expect(changed.hasData).toBe(true);
    // A new connection still gets no device lists.
    expect(
      ((await compute({ e2ee: { enabled: true } }, window({}))).extensions.e2ee as E2ee).device_lists,
    ).toBe(undefined);
  });

  it("account_data: all on a new connection (with push rules), deltas after, rooms by window and scope", async () => {
    const put = (type: string, content: Record<string, unknown>, roomId?: string) =>
      call(
        alice,
        "PUT",
        roomId
          ? `/user/${alice.userId}/rooms/${roomId}/account_data/${type}`
          : `/user/${alice.userId}/account_data/${type}`,
        content,
      );
    await put("org.example.g1", { a: 1 });
    await put("org.example.r", { room: 1 }, r1);
    await put("org.example.r", { room: 2 }, r2);
    await put("org.example.r", { room: 3 }, r3);
    const req = (scope: { lists?: string[]; rooms?: string[] } = {}): ExtensionsRequest => ({
      account_data: { enabled: true, ...scope },
    });
    const types = (evs: Event[]) => evs.map((e) => e.type).sort();

    const initial = await compute(req(), window({}));
    const ad = initial.extensions.account_data as AccountData;
    expect(types(ad.global)).toEqual(expect.arrayContaining(["m.push_rules", "org.example.g1"]));
    expect(ad.global.find((e) => e.type === "m.push_rules")?.content).toHaveProperty("global");
    // r3 is out of the window.
    expect(ad.rooms).toEqual({
      [r1]: [{ type: "org.example.r", content: { room: 1 } }],
      [r2]: [{ type: "org.example.r", content: { room: 2 } }],
    });
    expect(initial.hasData).toBe(true);

    // Scope: the list only; the subscription only; none; a named room outside the window.
    const only = async (scope: { lists?: string[]; rooms?: string[] }) =>
      Object.keys(((await compute(req(scope), window({}))).extensions.account_data as AccountData).rooms);
    expect(await only({ lists: ["main"], rooms: [] })).toEqual([r1]);
    expect(await only({ lists: [], rooms: ["*"] })).toEqual([r2]);
    expect(await only({ lists: ["other"], rooms: [] })).toEqual([]);
    expect(await only({ lists: [], rooms: [r3, r1] })).toEqual([r1]);

    // Incremental: only what changed since from (global) or since the room's position.
    const from = now();
    const quiet = await compute(req(), window({ from, since: { [r1]: from, [r2]: from } }));
    expect(quiet.extensions.account_data).toEqual({ global: [], rooms: {} });
    expect(quiet.hasData).toBe(false);

    await put("org.example.g2", { b: 2 });
    await put("m.tag", { tags: { "m.favourite": {} } }, r1);
    await put("org.example.r", { room: 22 }, r2);
    const inc = (await compute(req(), window({ from, since: { [r1]: from, [r2]: from } }))).extensions
      .account_data as AccountData;
    expect(inc.global).toEqual([{ type: "org.example.g2", content: { b: 2 } }]);
    expect(inc.rooms).toEqual({
      [r1]: [{ type: "m.tag", content: { tags: { "m.favourite": {} } } }],
      [r2]: [{ type: "org.example.r", content: { room: 22 } }],
    });

    // A room new to the connection on an incremental response gets all its data.
    const fresh = (await compute(req(), window({ from: now(), since: { [r1]: null, [r2]: now() } })))
      .extensions.account_data as AccountData;
    expect(fresh.global).toEqual([]);
    expect(Object.keys(fresh.rooms)).toEqual([r1]);
    expect(types(fresh.rooms[r1]!)).toEqual(["m.tag", "org.example.r"]);

    // A room the connection has from before `from` gets what changed since its own position.
    const older = (await compute(req(), window({ from: now(), since: { [r1]: from, [r2]: now() } })))
      .extensions.account_data as AccountData;
    expect(older.rooms).toEqual({ [r1]: [{ type: "m.tag", content: { tags: { "m.favourite": {} } } }] });
  });

  it("receipts: all current for a new room, changes after, others' private receipts never, scoped", async () => {
    const e1 = await send(bob, r1);
    const e2 = await send(bob, r2);
    await call(alice, "POST", `/rooms/${r1}/receipt/m.read/${encodeURIComponent(e1)}`, {});
    await call(alice, "POST", `/rooms/${r2}/receipt/m.read.private/${encodeURIComponent(e2)}`, {});
    const req = (scope: { lists?: string[]; rooms?: string[] } = {}): ExtensionsRequest => ({
      receipts: { enabled: true, ...scope },
    });

    const initial = await compute(req(), window({}));
    const rc = initial.extensions.receipts as RoomEvents;
    expect(rc.rooms[r1]?.type).toBe("m.receipt");
    expect(rc.rooms[r1]?.content[e1]).toMatchObject({
      "m.read": { [alice.userId]: { ts: expect.any(Number) } },
    });
    // The user's own private receipt is theirs to see.
    expect(rc.rooms[r2]?.content[e2]).toHaveProperty(["m.read.private", alice.userId]);
    expect(initial.hasData).toBe(true);
    expect(
      Object.keys(((await compute(req({ rooms: [] }), window({}))).extensions.receipts as RoomEvents).rooms),
    ).toEqual([r1]);
    expect((await compute(req({ lists: [], rooms: [] }), window({}))).extensions.receipts).toEqual({
      rooms: {},
    });

    // Bob's private receipt is not shown to alice; his public one is, as a change since.
    const from = now();
    const since = { [r1]: from, [r2]: from };
    await call(bob, "POST", `/rooms/${r2}/receipt/m.read.private/${encodeURIComponent(e2)}`, {});
    const hidden = await compute(req(), window({ from, since }));
    expect(hidden.extensions.receipts).toEqual({ rooms: {} });
    expect(hidden.hasData).toBe(false);
    const e3 = await send(alice, r1);
    await call(bob, "POST", `/rooms/${r1}/receipt/m.read/${encodeURIComponent(e3)}`, {});
    const inc = (await compute(req(), window({ from, since }))).extensions.receipts as RoomEvents;
    expect(Object.keys(inc.rooms)).toEqual([r1]);
    expect(inc.rooms[r1]?.content).toEqual({
      [e3]: { "m.read": { [bob.userId]: { ts: expect.any(Number) } } },
    });
    // Rooms at different positions are each read from their own.
    const mixed = (await compute(req(), window({ from: now(), since: { [r1]: now(), [r2]: from } })))
      .extensions.receipts as RoomEvents;
    expect(mixed.rooms).toEqual({});
    const split = (await compute(req(), window({ from, since: { [r1]: from, [r2]: now() } }))).extensions
      .receipts as RoomEvents;
    expect(Object.keys(split.rooms)).toEqual([r1]);
  });

  it("typing: current typers for a new room, changes after, scoped", async () => {
    const before = now();
    await call(bob, "PUT", `/rooms/${r1}/typing/${bob.userId}`, { typing: true, timeout: 30_000 });
    const req = (scope: { lists?: string[]; rooms?: string[] } = {}): ExtensionsRequest => ({
      typing: { enabled: true, ...scope },
    });
    const initial = await compute(req(), window({}));
    expect(initial.extensions.typing).toEqual({
      rooms: { [r1]: { type: "m.typing", content: { user_ids: [bob.userId] } } },
    });
    expect(initial.hasData).toBe(true);
    expect((await compute(req({ lists: [] }), window({}))).extensions.typing).toEqual({ rooms: {} });

    // Changed since the room's position: sent; not changed: not sent.
    expect(
      Object.keys(
        (
          (await compute(req(), window({ from: before, since: { [r1]: before, [r2]: before } }))).extensions
            .typing as RoomEvents
        ).rooms,
      ),
    ).toEqual([r1]);
    const after = now();
    const quiet = await compute(req(), window({ from: after, since: { [r1]: after, [r2]: after } }));
    expect(quiet.extensions.typing).toEqual({ rooms: {} });
    expect(quiet.hasData).toBe(false);

    // Stopping is a change too: the empty set goes to a connection that has the room.
    await call(bob, "PUT", `/rooms/${r1}/typing/${bob.userId}`, { typing: false });
    expect(
      (await compute(req(), window({ from: after, since: { [r1]: after, [r2]: after } }))).extensions.typing,
    ).toEqual({
      rooms: { [r1]: { type: "m.typing", content: { user_ids: [] } } },
    });
    // A new room with nobody typing gets nothing.
    expect((await compute(req(), window({}))).extensions.typing).toEqual({ rooms: {} });
  });

  it("computes several extensions in one response", async () => {
    const r = await compute(
      {
        to_device: { enabled: true },
        e2ee: { enabled: true },
        account_data: { enabled: true },
        receipts: { enabled: true },
        typing: { enabled: true },
      },
      window({}),
    );
    expect(Object.keys(r.extensions).sort()).toEqual([
      "account_data",
      "e2ee",
      "receipts",
      "to_device",
      "typing",
    ]);
  });
});
