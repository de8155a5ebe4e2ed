import "fake-indexeddb/auto";
import { ClientEvent, createClient, type MatrixClient, Preset, SyncState } from "matrix-js-sdk";
import { logger } from "matrix-js-sdk/lib/logger.js";
import { type MSC3575RoomData, SlidingSync, SlidingSyncEvent } from "matrix-js-sdk/lib/sliding-sync.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { durableStorage } from "../helpers/database.ts";
import { pathProxy } from "../helpers/path-proxy.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { waitFor } from "../helpers/wait.ts";
import { createRoom, join, roomList, SS, send, slideOk, V3, type Who } from "../sliding/helpers.ts";
import { cryptoClient, login, register } from "./clients.ts";

/**
 * matrix-js-sdk's own SlidingSync (MSC4186 in v37) driving a MatrixClient against Nova: the room
 * list with Element X's required_state, room subscriptions, rooms moving up on news, encrypted
 * messages both ways with a /sync client (keys as to-device through the extension, new devices
 * through the e2ee extension's device lists), typing, receipts and account data through their
 * extensions, and a restart of the server in the middle of a connection that resumes from `pos`.
 */
(logger as unknown as { setLevel(level: string): void }).setLevel("error");
console.debug = () => {};
console.info = () => {};

const ELEMENT_X_STATE = roomList([0, 9]).required_state;
const LONG_POLL_MS = 3_000;

function bodies(client: MatrixClient, roomId: string): string[] {
  return (client.getRoom(roomId)?.getLiveTimeline().getEvents() ?? [])
    .filter((e) => e.getType() === "m.room.message")
    .map((e) => e.getContent().body as string);
}

type SlidingCall = {
  pos: string | null;
  status: number;
  nextPos: string | null;
  /** Sender and type of each message of the to_device extension in the answer. */
  toDevice: { sender: string; type: string }[];
  /** Users the e2ee extension said changed their devices. */
  deviceListsChanged: string[];
};
type SlidingAnswer = {
  pos?: string;
  extensions?: {
    to_device?: { events?: SlidingCall["toDevice"] };
    e2ee?: { device_lists?: { changed?: string[] } };
  };
};

/** A js-sdk client syncing through its SlidingSync; `calls` records each sliding sync exchange. */
async function slidingClient(
  baseUrl: string,
  who: Who,
  opts: { crypto?: boolean } = {},
): Promise<{ client: MatrixClient; sliding: SlidingSync; calls: SlidingCall[] }> {
  const calls: SlidingCall[] = [];
  const recording: typeof fetch = async (input, init) => {
    const res = await fetch(input, init);
    const url = new URL(String(input));
    if (url.pathname === SS) {
      const json: SlidingAnswer = res.ok ? await res.clone().json() : {};
      calls.push({
        pos: url.searchParams.get("pos"),
        status: res.status,
        nextPos: json.pos ?? null,
        toDevice: (json.extensions?.to_device?.events ?? []).map((e) => ({ sender: e.sender, type: e.type })),
        deviceListsChanged: json.extensions?.e2ee?.device_lists?.changed ?? [],
      });
    }
    return res;
  };
  const client = createClient({
    baseUrl,
    userId: who.userId,
    accessToken: who.accessToken,
    deviceId: who.deviceId,
    fetchFn: recording,
  });
  const sliding = new SlidingSync(
    baseUrl,
    new Map([["all", { ranges: [[0, 9]], timeline_limit: 1, required_state: ELEMENT_X_STATE }]]),
    { timeline_limit: 20, required_state: ELEMENT_X_STATE },
    client,
    LONG_POLL_MS,
  );
  if (opts.crypto) await client.initRustCrypto({ useIndexedDB: false });
  const prepared = new Promise<void>((resolve, reject) => {
    client.on(ClientEvent.Sync, (state: SyncState) => {
      if (state === SyncState.Prepared) resolve();
      if (state === SyncState.Error) reject(new Error("sliding sync error"));
    });
  });
  await client.startClient({ slidingSync: sliding });
  await prepared;
  return { client, sliding, calls };
}

/** The messages of room i, oldest first. */
function allOf(i: number): string[] {
  return [...[0, 1, 2, 3, 4].map((m) => `message ${m} in room ${i}`), `last in room ${i}`];
}

/** Rooms as the js-sdk orders a sliding sync room list: by the server's bump_stamp, newest first. */
function byBumpStamp(client: MatrixClient): string[] {
  return client
    .getRooms()
    .map((r) => ({ id: r.roomId, stamp: r.getBumpStamp() ?? 0 }))
    .sort((a, b) => b.stamp - a.stamp)
    .map((r) => r.id);
}

describe("matrix-js-sdk SlidingSync: the room list, subscriptions, rooms moving up", () => {
  let s: TestServer;
  let alice: Who;
  let client: MatrixClient;
  let sliding: SlidingSync;
  const roomIds: string[] = [];

  beforeAll(async () => {
    s = await startTestServer();
    alice = await s.register("alice");
    // Twelve rooms, room 0 the oldest; each has a few messages, the last one "last in room i".
    for (let i = 0; i < 12; i++) {
      const id = await createRoom(s, alice, { name: `room ${i}`, preset: "private_chat" });
      for (let m = 0; m < 5; m++) await send(s, alice, id, `message ${m} in room ${i}`);
      await send(s, alice, id, `last in room ${i}`);
      roomIds.push(id);
    }
    ({ client, sliding } = await slidingClient(s.baseUrl, alice));
  }, 120_000);

  afterAll(async () => {
    client?.stopClient();
    await s?.close();
  });

  it("sees the newest ten rooms with the list's count, their names and latest message", async () => {
    expect(sliding.getListData("all")?.joinedCount).toBe(12);
    const expected = roomIds.slice(2);
    expect(
      client
        .getRooms()
        .map((r) => r.roomId)
        .sort(),
    ).toEqual([...expected].sort());
    for (const [i, id] of roomIds.entries()) {
      if (i < 2) continue;
      const room = client.getRoom(id)!;
      expect(room.name).toBe(`room ${i}`);
      expect(bodies(client, id).at(-1)).toBe(`last in room ${i}`);
    }
    expect(byBumpStamp(client)).toEqual([...expected].reverse());
  });

  it("gives subscribed rooms the subscription's bigger timeline", async () => {
    const outside = roomIds[1]!;
    const inside = roomIds[5]!;
    expect(client.getRoom(outside)).toBeNull();
    expect(bodies(client, inside)).toEqual(["last in room 5"]);
    const insideData = new Promise<MSC3575RoomData>((resolve) => {
      sliding.on(SlidingSyncEvent.RoomData, (roomId, data) => {
        if (roomId === inside) resolve(data);
      });
    });
    sliding.modifyRoomSubscriptions(new Set([outside, inside]));
    await waitFor("the subscribed room outside the range", () => bodies(client, outside).length >= 6);
    expect(client.getRoom(outside)!.name).toBe("room 1");
    expect(bodies(client, outside)).toEqual(allOf(1));

    // The room the list sent with one event comes again with the latest twenty, marked expanded.
    const data = await insideData;
    expect(data.initial).toBeUndefined();
    expect(
      (data as MSC3575RoomData & { unstable_expanded_timeline?: boolean }).unstable_expanded_timeline,
    ).toBe(true);
    expect(data.timeline.filter((e) => e.type === "m.room.message").map((e) => e.content.body)).toEqual(
      allOf(5),
    );
    // js-sdk v37 merges only `initial` or `limited` timelines as back-fill, so it appends the older
    // events after the one it had: the client holds them all, not in order.
    expect([...bodies(client, inside)].sort()).toEqual([...allOf(5)].sort());
  });

  it("back-paginates a list room from its prev_batch", async () => {
    const room = client.getRoom(roomIds[7]!)!;
    expect(bodies(client, room.roomId)).toEqual(["last in room 7"]);
    await client.scrollback(room, 20);
    expect(bodies(client, room.roomId)).toEqual(allOf(7));
    expect(room.getLiveTimeline().getEvents()[0]!.getType()).toBe("m.room.create");
  });

  it("moves an old room to the top of the list when a message arrives in it", async () => {
    const id = roomIds[0]!;
    expect(client.getRoom(id)).toBeNull();
    await send(s, alice, id, "room 0 is back");
    await waitFor("room 0's new message", () => bodies(client, id).includes("room 0 is back"));
    expect(client.getRoom(id)!.name).toBe("room 0");
    expect(bodies(client, id).at(-1)).toBe("room 0 is back");
    expect(byBumpStamp(client)[0]).toBe(id);
    expect(sliding.getListData("all")?.joinedCount).toBe(12);
  });

  it("sees typing, read receipts and account data through the extensions", async () => {
    const id = roomIds[11]!;
    const bob = await s.register("bob");
    const r = (p: string) => `${V3}/rooms/${encodeURIComponent(id)}${p}`;
    await s.call("POST", r("/invite"), { token: alice.accessToken, body: { user_id: bob.userId } });
    await join(s, bob, id);
    await waitFor("bob's join", () => client.getRoom(id)?.getMember(bob.userId)?.membership === "join");

    await s.call("PUT", r(`/typing/${encodeURIComponent(bob.userId)}`), {
      token: bob.accessToken,
      body: { typing: true, timeout: 10_000 },
    });
    await waitFor("bob typing", () => client.getRoom(id)?.getMember(bob.userId)?.typing === true);

    const eventId = await send(s, bob, id, "read this");
    await waitFor("bob's message", () => bodies(client, id).includes("read this"));
    const receipt = await s.call("POST", r(`/receipt/m.read/${encodeURIComponent(eventId)}`), {
      token: bob.accessToken,
      body: {},
    });
    expect(receipt.status).toBe(200);
    await waitFor("bob's receipt", () => {
      const room = client.getRoom(id)!;
      const ev = room.findEventById(eventId);
      return ev && room.getReceiptsForEvent(ev).some((x) => x.userId === bob.userId && x.type === "m.read");
    });

    const me = encodeURIComponent(alice.userId);
    await s.call("PUT", `${V3}/user/${me}/rooms/${encodeURIComponent(id)}/tags/u.work`, {
      token: alice.accessToken,
      body: { order: 0.5 },
    });
    await waitFor("the room's tag", () => client.getRoom(id)?.tags["u.work"]);
    await s.call("PUT", `${V3}/user/${me}/account_data/m.identity_server`, {
      token: alice.accessToken,
      body: { base_url: "https://id.example" },
    });
    await waitFor(
      "global account data",
      () => client.getAccountData("m.identity_server")?.getContent().base_url === "https://id.example",
    );
  });
});

describe("matrix-js-sdk SlidingSync with Rust crypto and a /sync client, one encrypted room", () => {
  let s: TestServer;
  let alice: MatrixClient;
  let bob: MatrixClient;
  let bobCalls: SlidingCall[];
  let roomId: string;

  beforeAll(async () => {
    s = await startTestServer();
    const a = await register(s.baseUrl, "alice");
    const b = await register(s.baseUrl, "bob");
    alice = await cryptoClient(s.baseUrl, a);
    ({ client: bob, calls: bobCalls } = await slidingClient(s.baseUrl, b, { crypto: true }));
  }, 120_000);

  afterAll(async () => {
    alice?.stopClient();
    bob?.stopClient();
    await s?.close();
  });

  it("exchanges messages that decrypt both ways", async () => {
    const bobId = bob.getUserId()!;
    ({ room_id: roomId } = await alice.createRoom({
      preset: Preset.PrivateChat,
      invite: [bobId],
      initial_state: [
        { type: "m.room.encryption", state_key: "", content: { algorithm: "m.megolm.v1.aes-sha2" } },
      ],
    }));
    await waitFor("bob's invite through sliding sync", () => bob.getRoom(roomId));
    await bob.joinRoom(roomId);
    await waitFor(
      "alice to see bob joined",
      () => alice.getRoom(roomId)?.getMember(bobId)?.membership === "join",
    );
    await waitFor("the room to be encrypted for bob", () =>
      bob.getCrypto()!.isEncryptionEnabledInRoom(roomId),
    );

    await alice.sendTextMessage(roomId, "from /sync to sliding sync");
    await waitFor("bob to decrypt", () => bodies(bob, roomId).includes("from /sync to sliding sync"));
    const ev = bob
      .getRoom(roomId)!
      .getLiveTimeline()
      .getEvents()
      .find((e) => e.getContent().body === "from /sync to sliding sync")!;
    expect(ev.getWireType()).toBe("m.room.encrypted");
    expect(ev.isDecryptionFailure()).toBe(false);
    // Alice's room key reached Bob's device olm-encrypted through the to_device extension.
    expect(
      bobCalls.some((c) =>
        c.toDevice.some((e) => e.sender === alice.getUserId() && e.type === "m.room.encrypted"),
      ),
    ).toBe(true);

    await bob.sendTextMessage(roomId, "from sliding sync to /sync");
    await waitFor("alice to decrypt", () => bodies(alice, roomId).includes("from sliding sync to /sync"));
    const back = alice
      .getRoom(roomId)!
      .getLiveTimeline()
      .getEvents()
      .find((e) => e.getContent().body === "from sliding sync to /sync")!;
    expect(back.getWireType()).toBe("m.room.encrypted");
  }, 120_000);

  it("learns of a new device through the e2ee extension's device lists and encrypts for it", async () => {
    const aliceId = alice.getUserId()!;
    const second = await cryptoClient(s.baseUrl, await login(s.baseUrl, aliceId));
    try {
      await waitFor("bob to be told alice's devices changed", () =>
        bobCalls.some((c) => c.deviceListsChanged.includes(aliceId)),
      );
      await waitFor("bob to know alice's new device", async () => {
        const devices = await bob.getCrypto()!.getUserDeviceInfo([aliceId]);
        return devices.get(aliceId)?.has(second.getDeviceId()!);
      });
      await bob.sendTextMessage(roomId, "for both of alice's devices");
      await waitFor("alice's new device to decrypt", () =>
        bodies(second, roomId).includes("for both of alice's devices"),
      );
      await waitFor("alice's first device to decrypt", () =>
        bodies(alice, roomId).includes("for both of alice's devices"),
      );
    } finally {
      second.stopClient();
    }
  }, 120_000);
});

describe("matrix-js-sdk SlidingSync across a server restart", () => {
  let cleanup: () => Promise<void> = async () => {};
  let servers: TestServer[] = [];
  let client: MatrixClient | undefined;
  let proxy: { port: number; close(): Promise<void> } | undefined;

  afterAll(async () => {
    client?.stopClient();
    await proxy?.close();
    for (const s of servers) await s.close();
    await cleanup();
  });

  it("resumes from pos: the old pos answers with only the news, and the client catches up", async () => {
    const storage = await durableStorage("nova-sliding-e2e-");
    cleanup = storage.cleanup;
    const first = await startTestServer(storage.env);
    servers = [first];
    // The client talks to a proxy that is pointed at the second server after the restart, as a
    // load balancer would be: the same base URL before and after.
    const upstream = { prefix: "", port: first.port };
    proxy = await pathProxy([upstream]);
    const baseUrl = `http://127.0.0.1:${proxy.port}`;
    const alice = await first.register("alice");
    const bob = await first.register("bob");
    const busy = await createRoom(first, bob, { name: "busy", preset: "public_chat" });
    const quiet = await createRoom(first, bob, { name: "quiet", preset: "public_chat" });
    await join(first, alice, busy);
    await join(first, alice, quiet);
    await send(first, bob, busy, "before the restart");
    await send(first, bob, quiet, "quiet before the restart");

    const started = await slidingClient(baseUrl, alice);
    client = started.client;
    const pings: string[] = [];
    started.client.on(ClientEvent.ToDeviceEvent, (e) => {
      if (e.getType() === "org.example.ping") pings.push(e.getContent().n as string);
    });
    let txn = 0;
    const ping = (server: TestServer, n: string) =>
      server.call("PUT", `${V3}/sendToDevice/org.example.ping/ping${++txn}`, {
        token: bob.accessToken,
        body: { messages: { [alice.userId]: { [alice.deviceId]: { n } } } },
      });
    await waitFor("the client's first messages", () =>
      bodies(started.client, busy).includes("before the restart"),
    );

    // A connection of our own, driven by hand, to look at what the old pos answers after the restart.
    const body = { conn_id: "raw", lists: { all: roomList([0, 9], { timeline_limit: 10 }) } };
    const raw = await slideOk(first, alice, body);
    expect(Object.keys(raw.rooms).sort()).toEqual([busy, quiet].sort());
    await send(first, bob, busy, "just before the restart");
    expect((await ping(first, "before")).status).toBe(200);
    await first.close();

    const second = await startTestServer(storage.env);
    servers = [second];
    upstream.port = second.port;
    await send(second, bob, busy, "after the restart");
    expect((await ping(second, "after")).status).toBe(200);

    const resumed = await slideOk(second, alice, body, { pos: raw.pos });
    expect(Object.keys(resumed.rooms)).toEqual([busy]);
    const news = resumed.rooms[busy]!;
    expect(news.initial).toBeUndefined();
    expect(news.limited).toBeUndefined();
    expect(news.timeline!.map((e) => e.content.body)).toEqual([
      "just before the restart",
      "after the restart",
    ]);
    expect(resumed.lists.all!.count).toBe(2);

    await waitFor("the client's message after the restart", () =>
      bodies(started.client, busy).includes("after the restart"),
    );
    expect(bodies(started.client, busy)).toEqual([
      "before the restart",
      "just before the restart",
      "after the restart",
    ]);
    expect(bodies(started.client, quiet)).toEqual(["quiet before the restart"]);
    // The to_device extension's own cursor carried over too: each message once, none lost.
    await waitFor("the to-device message after the restart", () => pings.includes("after"));
    expect(pings).toEqual(["before", "after"]);
    // The resumed connection long-polls on the new server: news wakes it.
    await send(second, bob, quiet, "woken after the restart");
    await waitFor("the long-poll after the restart to wake", () =>
      bodies(started.client, quiet).includes("woken after the restart"),
    );
    // It resumed: after its first request every one carried a pos and none was refused with a 400
    // (the js-sdk would have dropped its pos and started over). Only the restart itself failed
    // requests: 503 from the server shutting down, 502 from the proxy while no server was up.
    // Answered exchanges chain, each request's pos the previous answer's.
    const { calls } = started;
    expect(calls[0]!.pos).toBeNull();
    expect(calls.slice(1).every((c) => c.pos !== null)).toBe(true);
    expect(calls.filter((c) => c.status !== 200 && c.status !== 502 && c.status !== 503)).toEqual([]);
    const answered = calls.filter((c) => c.status === 200);
    for (let i = 1; i < answered.length; i++) expect(answered[i]!.pos).toBe(answered[i - 1]!.nextPos);
  }, 120_000);
});
