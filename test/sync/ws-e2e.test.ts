import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { registry } from "../../companion-services/platform/metrics.ts";
import type { SyncBody } from "../../sync/client/index.ts";
import { CloseCode, Limits } from "../../sync/ws/protocol.ts";
import { TestDevice } from "../crypto/olm-keys.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { rawSocket, syncClient, timeline } from "./ws-helpers.ts";

const V3 = "/_matrix/client/v3";
type Account = { userId: string; deviceId: string; accessToken: string };

let server: TestServer;
let alice: Account;
let bob: Account;
let roomId: string;

type JoinedRoom = {
  ephemeral?: { events?: { type: string; content: Record<string, unknown> }[] };
};
function joined(b: SyncBody, room: string): JoinedRoom | undefined {
  return (b.rooms as { join?: Record<string, JoinedRoom> } | undefined)?.join?.[room];
}
function ephemeral(b: SyncBody, room: string, type: string) {
  return joined(b, room)?.ephemeral?.events?.find((e) => e.type === type);
}
function toDevice(b: SyncBody): { type: string; sender: string; content: Record<string, unknown> }[] {
  return ((b.to_device as { events?: [] } | undefined)?.events ?? []) as {
    type: string;
    sender: string;
    content: Record<string, unknown>;
  }[];
}

beforeAll(async () => {
  server = await startTestServer();
  alice = await server.register();
  bob = await server.register();
  const created = await server.call("POST", `${V3}/createRoom`, {
    token: alice.accessToken,
    body: { preset: "private_chat", invite: [bob.userId] },
  });
  roomId = created.body.room_id as string;
  const join = await server.call("POST", `${V3}/rooms/${encodeURIComponent(roomId)}/join`, {
    token: bob.accessToken,
    body: {},
  });
  expect(join.status).toBe(200);
});
afterAll(async () => {
  await server?.close();
});

describe("WebSocket sync end to end (client library)", () => {
  it("pushes messages sent over another socket, in order, with the /sync schema", async () => {
    const a = await syncClient({ baseUrl: server.baseUrl, accessToken: alice.accessToken });
    const b = await syncClient({ baseUrl: server.baseUrl, accessToken: bob.accessToken });
    await b.waitFor(() => true);
    const sent: string[] = [];
    for (let i = 0; i < 5; i++) {
      const r = await a.client.sendEvent(roomId, "m.room.message", { msgtype: "m.text", body: `hello ${i}` });
      sent.push(r.event_id);
    }
    await b.waitFor(
      () => timeline(b.deltas, roomId).filter((e) => sent.includes(e.event_id as string)).length === 5,
    );
    const got = timeline(b.deltas, roomId)
      .map((e) => e.event_id as string)
      .filter((id) => sent.includes(id));
    expect(got).toEqual(sent);
    // Continuity: each delta starts where the previous one ended.
    for (let i = 1; i < b.deltas.length; i++) expect(b.deltas[i - 1]!.next_batch).toBeDefined();
    // The same window over HTTP /sync holds the same events (same engine, same schema).
    const first = b.deltas[0]!.next_batch;
    const http = await server.call("GET", `${V3}/sync?since=${first}&timeout=0`, { token: bob.accessToken });
    const httpIds = timeline([http.body as SyncBody], roomId).map((e) => e.event_id);
    expect(httpIds).toEqual(expect.arrayContaining(sent));
    // Idempotent send: the same txn id returns the first event id.
    const again = await a.client.sendEvent(
      roomId,
      "m.room.message",
      { msgtype: "m.text", body: "x" },
      "fixed-txn",
    );
    const retry = await a.client.sendEvent(
      roomId,
      "m.room.message",
      { msgtype: "m.text", body: "x" },
      "fixed-txn",
    );
    expect(retry.event_id).toBe(again.event_id);
    a.client.close();
    b.client.close();
  });

  it("carries typing and receipts both ways", async () => {
    const a = await syncClient({ baseUrl: server.baseUrl, accessToken: alice.accessToken });
    const b = await syncClient({ baseUrl: server.baseUrl, accessToken: bob.accessToken });
    await a.client.setTyping(roomId, true, 10_000);
    const typing = await b.waitFor((d) => {
      const t = ephemeral(d, roomId, "m.typing");
      return Boolean((t?.content.user_ids as string[] | undefined)?.includes(alice.userId));
    });
    expect(ephemeral(typing, roomId, "m.typing")).toBeDefined();
    const { event_id } = await b.client.sendEvent(roomId, "m.room.message", {
      msgtype: "m.text",
      body: "read me",
    });
    await b.client.sendReceipt(roomId, event_id);
    const receipt = await a.waitFor((d) => {
      const r = ephemeral(d, roomId, "m.receipt");
      return Boolean(r && (r.content as Record<string, unknown>)[event_id]);
    });
    expect(ephemeral(receipt, roomId, "m.receipt")!.content[event_id]).toMatchObject({
      "m.read": { [bob.userId]: expect.any(Object) },
    });
    await a.client.setTyping(roomId, false);
    a.client.close();
    b.client.close();
  });

  it("keeps a subscribed user's presence, as /sync's set_presence does", async () => {
    const a = await syncClient({
      baseUrl: server.baseUrl,
      accessToken: alice.accessToken,
      setPresence: "unavailable",
    });
    const b = await syncClient({ baseUrl: server.baseUrl, accessToken: bob.accessToken });
    const seen = await b.waitFor((d) =>
      (
        (d.presence as { events?: { sender: string; content: { presence: string } }[] } | undefined)
          ?.events ?? []
      ).some((e) => e.sender === alice.userId && e.content.presence === "unavailable"),
    );
    expect(seen).toBeDefined();
    const status = await server.call(
      "GET",
      `/_matrix/client/v3/presence/${encodeURIComponent(alice.userId)}/status`,
      {
        token: bob.accessToken,
      },
    );
    expect(status.body).toMatchObject({ presence: "unavailable" });
    a.client.close();
    b.client.close();
  });

  it("delivers to-device messages and deletes them only once acknowledged", async () => {
    const a = await syncClient({ baseUrl: server.baseUrl, accessToken: alice.accessToken });
    const b = await syncClient({ baseUrl: server.baseUrl, accessToken: bob.accessToken, autoAck: false });
    const start = (await b.waitFor(() => true)).next_batch;
    await a.client.sendToDevice("org.nova.test", { [bob.userId]: { [bob.deviceId]: { n: 1 } } });
    const got = await b.waitFor((d) => toDevice(d).some((e) => e.type === "org.nova.test"));
    expect(toDevice(got)[0]).toMatchObject({ sender: alice.userId, content: { n: 1 } });

    // Not acknowledged: a session resuming from before it gets it again.
    const replay = await syncClient({
      baseUrl: server.baseUrl,
      accessToken: bob.accessToken,
      since: start,
      autoAck: false,
    });
    await replay.waitFor((d) => toDevice(d).some((e) => e.type === "org.nova.test"));
    replay.client.close();

    // Acknowledged: gone.
    b.client.ack(got.next_batch);
    await b.client.ping();
    const after = await syncClient({
      baseUrl: server.baseUrl,
      accessToken: bob.accessToken,
      since: start,
      autoAck: false,
    });
    const first = await after.waitFor(() => true);
    expect(toDevice(first)).toEqual([]);
    after.client.close();
    a.client.close();
    b.client.close();
  });

  it("reports device-list changes of users sharing a room", async () => {
    const a = await syncClient({ baseUrl: server.baseUrl, accessToken: alice.accessToken });
    await a.waitFor(() => true);
    const dev = new TestDevice(bob.userId, bob.deviceId);
    const up = await server.call("POST", `${V3}/keys/upload`, {
      token: bob.accessToken,
      body: { device_keys: dev.deviceKeys() },
    });
    expect(up.status).toBe(200);
    const changed = await a.waitFor((d) =>
      Boolean((d.device_lists as { changed?: string[] } | undefined)?.changed?.includes(bob.userId)),
    );
    expect(changed.device_lists).toBeDefined();
    a.client.close();
  });

  it("resumes after a dropped socket without losing or repeating events", async () => {
    const a = await syncClient({ baseUrl: server.baseUrl, accessToken: alice.accessToken });
    const b = await syncClient({ baseUrl: server.baseUrl, accessToken: bob.accessToken });
    await b.waitFor(() => true);
    let reconnects = 0;
    b.client.onReady(() => reconnects++);
    const sent: string[] = [];
    for (let i = 0; i < 10; i++) {
      const drop = i === 3 || i === 7;
      const back = drop
        ? new Promise<void>((r) => {
            const off = b.client.onReady(() => {
              off();
              r();
            });
          })
        : null;
      if (drop) b.client.dropForTest();
      // Sent while Bob's socket is down (or just reconnecting).
      sent.push(
        (await a.client.sendEvent(roomId, "m.room.message", { msgtype: "m.text", body: `r${i}` })).event_id,
      );
      await back;
    }
    await b.waitFor(
      () => sent.every((id) => timeline(b.deltas, roomId).some((e) => e.event_id === id)),
      15_000,
    );
    const ids = timeline(b.deltas, roomId)
      .map((e) => e.event_id as string)
      .filter((id) => sent.includes(id));
    expect(ids).toEqual(sent);
    expect(reconnects).toBeGreaterThanOrEqual(2);
    a.client.close();
    b.client.close();
  });

  it("closes a slow consumer with 4003 and it resumes from its token without loss", async () => {
    const b = await rawSocket(server.baseUrl);
    b.send({ type: "auth", access_token: bob.accessToken });
    await b.next((f) => f.type === "ready");
    b.send({ type: "subscribe", since: null });
    const initial = await b.next((f) => f.type === "sync");
    const token = (initial.body as SyncBody).next_batch;
    // Stop reading: the server's buffer fills once the kernel buffers are full.
    (b.ws as unknown as { _socket: { pause(): void } })._socket.pause();
    const a = await syncClient({ baseUrl: server.baseUrl, accessToken: alice.accessToken });
    const big = "x".repeat(60_000);
    const sent: string[] = [];
    const closed = b.closed;
    // The paused client cannot read the close frame: watch the server's own count of 4003 closes.
    const slowCloses = async () => {
      const m = await registry.getSingleMetric("nova_ws_closes_total")?.get();
      return m?.values.find((v) => v.labels.code === String(CloseCode.slowConsumer))?.value ?? 0;
    };
    const before = await slowCloses();
    const deadline = Date.now() + Limits.slowConsumerMs + 20_000;
    while ((await slowCloses()) === before && Date.now() < deadline) {
      sent.push(
        (await a.client.sendEvent(roomId, "m.room.message", { msgtype: "m.text", body: big })).event_id,
      );
      if (sent.length > 200) await new Promise((r) => setTimeout(r, 200));
    }
    expect(await slowCloses()).toBe(before + 1);
    (b.ws as unknown as { _socket: { resume(): void } })._socket.resume();
    // The close frame is behind megabytes the client never read: uWS may cut the TCP connection
    // before it gets there, so the client sees 4003 or an abnormal close.
    expect([CloseCode.slowConsumer, 1006]).toContain((await closed).code);

    const resumed = await syncClient({
      baseUrl: server.baseUrl,
      accessToken: bob.accessToken,
      since: token,
      filter: { room: { timeline: { limit: 1000 } } },
    });
    await resumed.waitFor(
      () => sent.every((id) => timeline(resumed.deltas, roomId).some((e) => e.event_id === id)),
      30_000,
    );
    a.client.close();
    resumed.client.close();
  }, 90_000);
});
