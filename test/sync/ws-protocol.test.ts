import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { NovaSyncClient } from "../../sync/client/index.ts";
import { CloseCode, Limits, SUBPROTOCOL, TOKEN_SUBPROTOCOL_PREFIX } from "../../sync/ws/protocol.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { rawSocket, syncClient } from "./ws-helpers.ts";

let server: TestServer;
let alice: { userId: string; deviceId: string; accessToken: string };

beforeAll(async () => {
  server = await startTestServer();
  alice = await server.register();
});
afterAll(async () => {
  await server?.close();
});

describe("WebSocket sync: authentication", () => {
  it("authenticates with a first frame and answers ready", async () => {
    const s = await rawSocket(server.baseUrl);
    s.send({ type: "auth", access_token: alice.accessToken });
    const ready = await s.next((f) => f.type === "ready");
    expect(ready).toMatchObject({ version: 1, user_id: alice.userId, device_id: alice.deviceId });
    expect(s.ws.protocol).toBe(SUBPROTOCOL);
    s.ws.close();
  });

  it("authenticates with the subprotocol header and never echoes the token", async () => {
    const tokenProto = TOKEN_SUBPROTOCOL_PREFIX + Buffer.from(alice.accessToken).toString("base64url");
    const s = await rawSocket(server.baseUrl, [SUBPROTOCOL, tokenProto]);
    expect(s.ws.protocol).toBe(SUBPROTOCOL);
    const ready = await s.next((f) => f.type === "ready");
    expect(ready.user_id).toBe(alice.userId);
    s.ws.close();
  });

  it("closes with 4001 on an unknown token", async () => {
    const s = await rawSocket(server.baseUrl);
    s.send({ type: "auth", access_token: "not-a-token" });
    const err = await s.next((f) => f.type === "error");
    expect(err.errcode).toBe("M_UNKNOWN_TOKEN");
    expect((await s.closed).code).toBe(CloseCode.unknownToken);
  });

  it("refuses frames before authentication and closes an unauthenticated socket within the timeout", async () => {
    const s = await rawSocket(server.baseUrl);
    const started = Date.now();
    s.send({ type: "subscribe", since: null });
    expect((await s.next((f) => f.type === "error")).errcode).toBe("M_MISSING_TOKEN");
    const closed = await s.closed;
    expect(closed.code).toBe(CloseCode.authTimeout);
    expect(Date.now() - started).toBeLessThan(Limits.authTimeoutMs + 2_000);
  }, 15_000);

  it("closes a device's sockets with 4001 when it logs out", async () => {
    const u = await server.register();
    const s = await rawSocket(server.baseUrl);
    s.send({ type: "auth", access_token: u.accessToken });
    await s.next((f) => f.type === "ready");
    expect(
      (await server.call("POST", "/_matrix/client/v3/logout", { token: u.accessToken, body: {} })).status,
    ).toBe(200);
    expect((await s.closed).code).toBe(CloseCode.unknownToken);
  });

  it("rejects an upgrade offering only foreign subprotocols", async () => {
    await expect(rawSocket(server.baseUrl, ["chat"])).rejects.toThrow();
  });
});

describe("WebSocket sync: frames", () => {
  it("answers malformed frames with error frames, then closes on repeated abuse", async () => {
    const s = await rawSocket(server.baseUrl);
    s.send({ type: "auth", access_token: alice.accessToken });
    await s.next((f) => f.type === "ready");
    s.send("{not json");
    expect((await s.next((f) => f.type === "error")).errcode).toBe("M_NOT_JSON");
    s.send({ type: "warp" });
    expect((await s.next((f) => f.type === "error")).errcode).toBe("M_UNRECOGNIZED");
    s.send({ type: "send", id: "x1", room_id: "!r:x" });
    const bad = await s.next((f) => f.type === "error");
    expect(bad).toMatchObject({ errcode: "M_BAD_JSON", id: "x1" });
    s.send({ type: "subscribe", since: "garbage" });
    expect((await s.next((f) => f.type === "error")).errcode).toBe("M_INVALID_PARAM");
    // Still usable after a few mistakes.
    s.send({ type: "ping", id: "p" });
    expect(await s.next((f) => f.type === "pong")).toEqual({ type: "pong", id: "p" });
    for (let i = 0; i < Limits.abusePerMinute; i++) s.send("[]");
    expect((await s.closed).code).toBe(CloseCode.abuse);
  });

  it("closes with 1009 on a frame over the size limit", async () => {
    const s = await rawSocket(server.baseUrl);
    s.send({ type: "auth", access_token: alice.accessToken });
    await s.next((f) => f.type === "ready");
    s.send({
      type: "request",
      id: "big",
      method: "PUT",
      path: "/_matrix/x",
      body: "x".repeat(Limits.maxFrameBytes + 10),
    });
    expect((await s.next((f) => f.type === "error")).errcode).toBe("M_TOO_LARGE");
    expect((await s.closed).code).toBe(CloseCode.tooBig);
  });

  it("delivers an initial sync with a next_batch and dispatches general requests through the router", async () => {
    const { client, waitFor } = await syncClient({ baseUrl: server.baseUrl, accessToken: alice.accessToken });
    const first = await waitFor(() => true);
    expect(first.next_batch).toMatch(/^s\d+_\d+$/);
    const who = await client.api<{ user_id: string; device_id: string }>(
      "GET",
      "/_matrix/client/v3/account/whoami",
    );
    expect(who).toMatchObject({ user_id: alice.userId, device_id: alice.deviceId });
    // Errors come back as Matrix errors with the HTTP status, not as socket failures.
    const missing = await client.request("GET", "/_matrix/client/v3/nonexistent");
    expect(missing).toMatchObject({ status: 404, body: { errcode: "M_UNRECOGNIZED" } });
    const badBody = await client.request("POST", "/_matrix/client/v3/register", "not an object");
    expect(badBody).toMatchObject({ status: 400, body: { errcode: "M_NOT_JSON" } });
    expect(await client.ping()).toBeGreaterThanOrEqual(0);
    client.close();
  });
});

describe("WebSocket sync: shutdown", () => {
  it("tells connected clients to reconnect with 1012 and refuses new sockets", async () => {
    const own = await startTestServer();
    const u = await own.register();
    const c = new NovaSyncClient({ baseUrl: own.baseUrl, accessToken: u.accessToken, reconnect: false });
    const closed = new Promise<{ code: number; willReconnect: boolean }>((r) => c.onClose(r));
    const seen: string[] = [];
    c.onSync((body) => {
      const join = (
        body.rooms as { join?: Record<string, { timeline?: { events?: { event_id: string }[] } }> }
      )?.join;
      for (const r of Object.values(join ?? {}))
        for (const e of r.timeline?.events ?? []) seen.push(e.event_id);
    });
    await c.start();
    const room = (await own.call("POST", "/_matrix/client/v3/createRoom", { token: u.accessToken, body: {} }))
      .body.room_id as string;
    const sent = await own.call(
      "PUT",
      `/_matrix/client/v3/rooms/${encodeURIComponent(room)}/send/m.room.message/t1`,
      {
        token: u.accessToken,
        body: { msgtype: "m.text", body: "last words" },
      },
    );
    const started = Date.now();
    await own.close();
    const info = await closed;
    expect(info.code).toBe(CloseCode.serviceRestart);
    // What had committed before the shutdown was pushed before the close.
    expect(seen).toContain(sent.body.event_id);
    expect(Date.now() - started).toBeLessThan(10_000);
    await expect(rawSocket(own.baseUrl)).rejects.toThrow();
  });
});

describe("WebSocket sync: permessage-deflate", () => {
  it("negotiates compression when NOVA_WS_DEFLATE=1 and still carries deltas and replies", async () => {
    const own = await startTestServer({ NOVA_WS_DEFLATE: "1" });
    try {
      const u = await own.register();
      const s = await rawSocket(own.baseUrl);
      expect(s.ws.extensions).toContain("permessage-deflate");
      s.send({ type: "auth", access_token: u.accessToken });
      await s.next((f) => f.type === "ready");
      s.send({ type: "subscribe", since: null });
      expect(((await s.next((f) => f.type === "sync")).body as { next_batch: string }).next_batch).toMatch(
        /^s/,
      );
      s.send({ type: "request", id: "w", method: "GET", path: "/_matrix/client/v3/account/whoami" });
      expect(await s.next((f) => f.type === "reply")).toMatchObject({
        id: "w",
        status: 200,
        body: { user_id: u.userId },
      });
      s.ws.close();
    } finally {
      await own.close();
    }
  });

  it("does not negotiate it by default", async () => {
    const s = await rawSocket(server.baseUrl);
    expect(s.ws.extensions).toBe("");
    s.ws.close();
  });
});
