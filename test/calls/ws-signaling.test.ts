import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CallClient, type CallEvent, httpRequester } from "../../calls/client.ts";
import { NovaSyncClient } from "../../sync/client/index.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { callRoom, type TestUser } from "./helpers/call-setup.ts";
import { waitFor } from "./helpers/werift-peer.ts";

/**
 * Signaling as request frames on the sync WebSocket: the events long-poll is aborted when the
 * socket closes, so a dropped socket starts the grace period at once (not after the poll timeout).
 */
describe("call signaling over the sync WebSocket", () => {
  let server: TestServer;
  let alice: TestUser;
  let bob: TestUser;
  let carol: TestUser;
  let roomId: string;

  beforeAll(async () => {
    server = await startTestServer({
      NOVA_SFU_ICE_ADDRESS: "127.0.0.1",
      NOVA_CALL_GRACE_MS: "1500",
      NOVA_CALL_ICE_TIMEOUT_MS: "60000",
    });
    [alice, bob, carol] = [await server.register(), await server.register(), await server.register()];
    roomId = await callRoom(server, alice, [bob, carol]);
  });
  afterAll(async () => {
    await server?.close();
  });

  it("removes a participant shortly after its socket drops, and one who leaves the room", async () => {
    const aliceEvents: CallEvent[] = [];
    const a = new CallClient(httpRequester(server.baseUrl, alice.accessToken), 20_000);
    await a.join(roomId);
    const aliceLoop = a.run((e) => {
      aliceEvents.push(e);
    });

    const socket = new NovaSyncClient({
      baseUrl: server.baseUrl,
      accessToken: bob.accessToken,
      reconnect: false,
    });
    await socket.start();
    const b = new CallClient(socket, 20_000);
    const joined = await b.join(roomId);
    expect(joined.participants).toHaveLength(2);
    const bobLoop = b.run(() => {});
    await waitFor(() => aliceEvents.some((e) => e.type === "participant_joined"), 5000, "bob's join");
    // Well past the grace period while the poll is open: still in the call.
    await new Promise((r) => setTimeout(r, 1500));
    expect(server.calls.callOf(roomId)?.participants).toHaveLength(2);

    const dropped = Date.now();
    socket.close();
    await waitFor(
      () => aliceEvents.some((e) => e.type === "participant_left" && e.user_id === bob.userId),
      5000,
      "bob removed",
    );
    // Grace (1.5 s) plus the sweep, far below the 20 s poll timeout.
    expect(Date.now() - dropped).toBeLessThan(8000);
    expect(aliceEvents.find((e) => e.type === "participant_left")).toMatchObject({ reason: "disconnected" });
    b.stop();
    await bobLoop;

    const c = new CallClient(httpRequester(server.baseUrl, carol.accessToken), 20_000);
    await c.join(roomId);
    const carolLoop = c.run(() => {});
    const left = await server.call("POST", `/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}/leave`, {
      token: carol.accessToken,
      body: {},
    });
    expect(left.status).toBe(200);
    await waitFor(
      () => aliceEvents.some((e) => e.type === "participant_left" && e.user_id === carol.userId),
      5000,
      "carol removed on leaving the room",
    );
    expect(
      aliceEvents.find((e) => e.type === "participant_left" && e.user_id === carol.userId),
    ).toMatchObject({
      reason: "left_room",
    });
    // And she cannot come back into the call without rejoining the room.
    await expect(c.join(roomId)).rejects.toMatchObject({ errcode: "M_FORBIDDEN" });
    c.stop();
    await carolLoop;

    a.stop();
    await a.leave();
    await aliceLoop;
    expect(server.calls.callOf(roomId)).toBeUndefined();
  }, 60_000);
});
