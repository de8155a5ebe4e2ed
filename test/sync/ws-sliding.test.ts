import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { NovaSyncClient, type SlidingBody } from "../../sync/client/index.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { createRoom, roomList, type SlidingResponse, send, slideOk, type Who } from "../sliding/helpers.ts";
import { rawSocket } from "./ws-helpers.ts";

type Frame = Record<string, unknown>;

describe("WebSocket sync: sliding sync subscription", () => {
  let s: TestServer;
  let alice: Who;
  const roomIds: string[] = [];

  beforeAll(async () => {
    s = await startTestServer();
    alice = await s.register();
    for (let i = 0; i < 4; i++) {
      const id = await createRoom(s, alice, { name: `room ${i}`, preset: "public_chat" });
      await send(s, alice, id, `hello ${i}`);
      roomIds.push(id);
    }
  });
  afterAll(async () => {
    await s?.close();
  });

  async function socket() {
    const sock = await rawSocket(s.baseUrl);
    sock.send({ type: "auth", access_token: alice.accessToken });
    await sock.next((f) => f.type === "ready");
    return sock;
  }
  const slidingFrame = (id: string) => (f: Frame) => f.type === "sliding_sync" && f.id === id;
  const bodyOf = (f: Frame) => f.body as SlidingResponse;

  it("answers with a full response, then pushes each new event against the last pushed pos", async () => {
    const sock = await socket();
    sock.send({
      type: "sliding_sync",
      id: "s1",
      body: { conn_id: "ws-a", txn_id: "t1", lists: { all: roomList([0, 1]) } },
    });
    const first = await sock.next(slidingFrame("s1"));
    expect(first.since).toBeNull();
    const r1 = bodyOf(first);
    expect(typeof r1.pos).toBe("string");
    expect(r1.txn_id).toBe("t1");
    expect(r1.lists.all!.count).toBe(4);
    expect(Object.keys(r1.rooms).sort()).toEqual(roomIds.slice(2).sort());
    expect(r1.rooms[roomIds[3]!]!.timeline!.map((e) => e.content.body)).toEqual(["hello 3"]);

    const eventId = await send(s, alice, roomIds[3]!, "pushed over the socket");
    const pushed = await sock.next(slidingFrame("s1"));
    expect(pushed.since).toBe(r1.pos);
    const r2 = bodyOf(pushed);
    expect(r2.pos).not.toBe(r1.pos);
    expect(r2.txn_id).toBeUndefined();
    expect(Object.keys(r2.rooms)).toEqual([roomIds[3]]);
    expect(r2.rooms[roomIds[3]!]!.timeline!.map((e) => e.event_id)).toEqual([eventId]);

    // A message in a room outside the range moves it in: the next push has it, chained on.
    await send(s, alice, roomIds[0]!, "back to the top");
    const moved = await sock.next(slidingFrame("s1"));
    expect(moved.since).toBe(r2.pos);
    const r3 = bodyOf(moved);
    expect(r3.rooms[roomIds[0]!]!.timeline!.map((e) => e.content.body)).toEqual(["back to the top"]);

    // The pushed pos is a pos of the connection, as over HTTP: nothing new after it.
    const after = await slideOk(
      s,
      alice,
      { conn_id: "ws-a", lists: { all: roomList([0, 1]) } },
      { pos: r3.pos },
    );
    expect(after.rooms).toEqual({});
    sock.ws.close();
  });

  it("restarts from the last pushed pos with a new body when the ranges change", async () => {
    const sock = await socket();
    sock.send({
      type: "sliding_sync",
      id: "r1",
      body: { conn_id: "ws-b", lists: { all: roomList([0, 0]) } },
    });
    const first = bodyOf(await sock.next(slidingFrame("r1")));
    expect(Object.keys(first.rooms)).toHaveLength(1);
    const top = Object.keys(first.rooms)[0]!;

    sock.send({
      type: "sliding_sync",
      id: "r2",
      body: { conn_id: "ws-b", lists: { all: roomList([0, 2]) } },
    });
    const widened = await sock.next(slidingFrame("r2"));
    expect(widened.since).toBe(first.pos);
    const r2 = bodyOf(widened);
    // Only the rooms new to the connection: the one already sent is not repeated.
    expect(Object.keys(r2.rooms)).toHaveLength(2);
    expect(r2.rooms[top]).toBeUndefined();
    for (const room of Object.values(r2.rooms)) expect(room.initial).toBe(true);

    // The replaced subscription pushes no more; the new one does.
    const eventId = await send(s, alice, top, "after the change");
    const pushed = await sock.next((f) => f.type === "sliding_sync");
    expect(pushed.id).toBe("r2");
    expect(pushed.since).toBe(r2.pos);
    expect(bodyOf(pushed).rooms[top]!.timeline!.map((e) => e.event_id)).toEqual([eventId]);
    sock.ws.close();
  });

  it("resumes on a new socket from the pos the client last received", async () => {
    const a = await socket();
    a.send({ type: "sliding_sync", id: "x", body: { conn_id: "ws-c", lists: { all: roomList([0, 3]) } } });
    const first = bodyOf(await a.next(slidingFrame("x")));
    a.ws.close();
    await a.closed;
    const eventId = await send(s, alice, roomIds[1]!, "while away");

    const b = await socket();
    b.send({
      type: "sliding_sync",
      id: "y",
      pos: first.pos,
      body: { conn_id: "ws-c", lists: { all: roomList([0, 3]) } },
    });
    // The first frame may be the (empty) response the closed socket's wait recorded, which the
    // client never got: the chain goes on from the client's pos either way, and loses nothing.
    let since = first.pos;
    const seen: string[] = [];
    while (!seen.includes(eventId)) {
      const f = await b.next(slidingFrame("y"));
      expect(f.since).toBe(since);
      since = bodyOf(f).pos;
      seen.push(...(bodyOf(f).rooms[roomIds[1]!]?.timeline ?? []).map((e) => e.event_id));
    }
    expect(seen).toEqual([eventId]);
    b.ws.close();
  });

  it("carries to_device since forward: each message is pushed once", async () => {
    const bob = await s.register();
    const sock = await socket();
    sock.send({
      type: "sliding_sync",
      id: "td",
      body: { conn_id: "ws-td", lists: {}, extensions: { to_device: { enabled: true } } },
    });
    const first = bodyOf(await sock.next(slidingFrame("td")));
    let since = first.pos;
    const toDevice = async (n: number) => {
      const r = await s.call("PUT", `/_matrix/client/v3/sendToDevice/org.example.ping/td${n}`, {
        token: bob.accessToken,
        body: { messages: { [alice.userId]: { [alice.deviceId]: { n } } } },
      });
      expect(r.status).toBe(200);
    };
    const received: unknown[] = [];
    for (const n of [1, 2]) {
      await toDevice(n);
      const f = await sock.next(slidingFrame("td"));
      expect(f.since).toBe(since);
      since = bodyOf(f).pos;
      const events = (bodyOf(f).extensions.to_device?.events ?? []) as { content: { n: number } }[];
      received.push(...events.map((e) => e.content.n));
    }
    expect(received).toEqual([1, 2]);
    // Nothing more to say: no frame follows (a since left behind would repeat the messages).
    await expect(sock.next(slidingFrame("td"), 700)).rejects.toThrow(/no matching frame/);
    sock.ws.close();
    await sock.closed;

    // Never acknowledged, so nothing was deleted: a new connection gets both again.
    const numbers = (f: Frame) =>
      ((bodyOf(f).extensions.to_device?.events ?? []) as { content: { n: number } }[]).map(
        (e) => e.content.n,
      );
    const again = await socket();
    const fresh = { conn_id: "ws-td", lists: {}, extensions: { to_device: { enabled: true } } };
    again.send({ type: "sliding_sync", id: "td2", pos: null, body: fresh });
    const redelivered = await again.next(slidingFrame("td2"));
    expect(numbers(redelivered)).toEqual([1, 2]);
    // Acknowledged while the push after it already waits for data: the computation that ends the
    // wait deletes them; only 3 is left for a later connection.
    await new Promise((r) => setTimeout(r, 300));
    again.send({ type: "sliding_ack", pos: bodyOf(redelivered).pos });
    await toDevice(3);
    expect(numbers(await again.next(slidingFrame("td2")))).toEqual([3]);
    again.ws.close();
    await again.closed;
    const last = await socket();
    last.send({ type: "sliding_sync", id: "td3", pos: null, body: fresh });
    expect(numbers(await last.next(slidingFrame("td3")))).toEqual([3]);
    last.ws.close();
  });

  it("with wait_for_ack, computes past a push only once it is acknowledged", async () => {
    const sock = await socket();
    sock.send({
      type: "sliding_sync",
      id: "w",
      wait_for_ack: true,
      body: { conn_id: "ws-w", lists: { all: roomList([0, 3]) } },
    });
    const first = bodyOf(await sock.next(slidingFrame("w")));
    const e1 = await send(s, alice, roomIds[1]!, "not yet");
    await expect(sock.next(slidingFrame("w"), 700)).rejects.toThrow(/no matching frame/);
    sock.send({ type: "sliding_ack", pos: first.pos });
    const pushed = await sock.next(slidingFrame("w"));
    expect(pushed.since).toBe(first.pos);
    expect(bodyOf(pushed).rooms[roomIds[1]!]!.timeline!.map((e) => e.event_id)).toEqual([e1]);
    sock.ws.close();
  });

  it("answers a bad body with an error frame and keeps the socket", async () => {
    const sock = await socket();
    sock.send({ type: "sliding_sync", id: "bad", body: { lists: { all: { ranges: "all of them" } } } });
    const err = await sock.next((f) => f.type === "error");
    expect(err).toMatchObject({ id: "bad", errcode: "M_BAD_JSON" });
    sock.send({ type: "sliding_sync", id: "worse", body: "not an object" });
    expect(await sock.next((f) => f.type === "error")).toMatchObject({ id: "worse", errcode: "M_BAD_JSON" });
    sock.send({ type: "ping", id: "still" });
    expect(await sock.next((f) => f.type === "pong")).toMatchObject({ id: "still" });
    // And a good frame afterwards works.
    sock.send({ type: "sliding_sync", id: "good", body: { lists: { all: roomList([0, 0]) } } });
    expect(typeof bodyOf(await sock.next(slidingFrame("good"))).pos).toBe("string");
    sock.ws.close();
  });

  it("answers an unknown pos with M_UNKNOWN_POS", async () => {
    const sock = await socket();
    sock.send({
      type: "sliding_sync",
      id: "old",
      pos: "0123456789abcdef_7",
      body: { conn_id: "never-seen", lists: { all: roomList([0, 0]) } },
    });
    expect(await sock.next((f) => f.type === "error")).toMatchObject({ id: "old", errcode: "M_UNKNOWN_POS" });
    // The client starts over with pos null.
    sock.send({
      type: "sliding_sync",
      id: "fresh",
      pos: null,
      body: { conn_id: "never-seen", lists: { all: roomList([0, 0]) } },
    });
    const fresh = await sock.next(slidingFrame("fresh"));
    expect(fresh.since).toBeNull();
    expect(Object.keys(bodyOf(fresh).rooms)).toHaveLength(1);
    sock.ws.close();
  });

  it("the client library resumes after a dropped socket without a gap, and follows new ranges", async () => {
    const client = new NovaSyncClient({
      baseUrl: s.baseUrl,
      accessToken: alice.accessToken,
      autoSubscribe: false,
      minBackoffMs: 50,
      maxBackoffMs: 500,
    });
    const got: { body: SlidingBody; since: string | null }[] = [];
    const waiters: { pred: (b: SlidingBody) => boolean; resolve: (b: SlidingBody) => void }[] = [];
    client.onSlidingSync((body, { since }) => {
      got.push({ body, since });
      for (const w of [...waiters]) if (w.pred(body)) w.resolve(body);
    });
    const waitFor = (pred: (b: SlidingBody) => boolean) =>
      got.find((g) => pred(g.body))?.body ??
      new Promise<SlidingBody>((resolve, reject) => {
        const timer = setTimeout(
          () =>
            reject(
              new Error(
                `no matching sliding response after ${JSON.stringify(got.map((g) => [g.since, g.body.pos, Object.keys(g.body.rooms as object)]))}`,
              ),
            ),
          10_000,
        );
        waiters.push({
          pred,
          resolve: (b) => {
            clearTimeout(timer);
            resolve(b);
          },
        });
      });
    const timelineIds = (b: SlidingBody, roomId: string) =>
      ((b.rooms as SlidingResponse["rooms"])[roomId]?.timeline ?? []).map((e) => e.event_id);
    await client.start();
    const body = { conn_id: "lib", lists: { all: roomList([0, 3]) } };
    client.slidingSync(body);
    const first = await waitFor(() => true);
    expect(Object.keys(first.rooms as object)).toHaveLength(4);

    const e1 = await send(s, alice, roomIds[2]!, "live");
    await waitFor((b) => timelineIds(b, roomIds[2]!).includes(e1));
    client.dropForTest();
    const e2 = await send(s, alice, roomIds[2]!, "while dropped");
    await waitFor((b) => timelineIds(b, roomIds[2]!).includes(e2));

    client.slidingSync({ ...body, lists: { all: roomList([0, 0]) } });
    const before = got.length;
    await waitFor((b) => got.indexOf(got.find((g) => g.body === b)!) >= before);
    // The handlers resolved; the session moves on right after.
    await new Promise((r) => setTimeout(r, 50));
    expect(client.slidingPos).toBe(got[got.length - 1]!.body.pos);
    client.close();

    // One unbroken chain from the first response, each event once.
    expect(got[0]!.since).toBeNull();
    for (let i = 1; i < got.length; i++) expect(got[i]!.since).toBe(got[i - 1]!.body.pos);
    const seen = got.flatMap((g) => timelineIds(g.body, roomIds[2]!));
    expect(seen.filter((id) => id === e1)).toHaveLength(1);
    expect(seen.filter((id) => id === e2)).toHaveLength(1);
  });

  it("closes a socket with a sliding subscription with 1012 on shutdown", async () => {
    const other = await startTestServer();
    const bob = await other.register();
    const sock = await rawSocket(other.baseUrl);
    sock.send({ type: "auth", access_token: bob.accessToken });
    await sock.next((f) => f.type === "ready");
    sock.send({ type: "sliding_sync", id: "z", body: { lists: { all: roomList([0, 9]) } } });
    await sock.next(slidingFrame("z"));
    const started = Date.now();
    await other.close();
    expect((await sock.closed).code).toBe(1012);
    expect(Date.now() - started).toBeLessThan(5_000);
  });
});
