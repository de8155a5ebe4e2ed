import "fake-indexeddb/auto";
import { createClient, type MatrixClient, Preset } from "matrix-js-sdk";
import { logger } from "matrix-js-sdk/lib/logger.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { NovaSyncClient } from "../../sync/client/index.ts";
import { socketFetch } from "../../sync/client/matrix-fetch.ts";
import { startWithCrypto } from "../e2e/clients.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { waitFor } from "../helpers/wait.ts";

/**
 * The mixed test: Alice runs matrix-js-sdk (Rust crypto) on HTTP `/sync`; Bob runs the same SDK
 * with every call — his `/sync` included — carried by one Nova sync socket (sync/client's
 * `socketFetch`). In one encrypted room, messages decrypt both ways, which needs room events,
 * device lists, one-time-key counts and to-device room keys all to arrive over the socket.
 */
(logger as unknown as { setLevel(level: string): void }).setLevel("error");
console.debug = () => {};
console.info = () => {};

function bodies(client: MatrixClient, roomId: string): string[] {
  return (client.getRoom(roomId)?.getLiveTimeline().getEvents() ?? [])
    .filter((e) => e.getType() === "m.room.message")
    .map((e) => e.getContent().body as string);
}

describe("matrix-js-sdk on HTTP /sync and on the WebSocket, one encrypted room", () => {
  let server: TestServer;
  let alice: MatrixClient;
  let bob: MatrixClient;
  let socket: NovaSyncClient;
  const overHttp: string[] = [];

  beforeAll(async () => {
    server = await startTestServer();
    const a = await server.register("alice");
    const b = await server.register("bob");
    alice = createClient({
      baseUrl: server.baseUrl,
      userId: a.userId,
      accessToken: a.accessToken,
      deviceId: a.deviceId,
    });
    socket = new NovaSyncClient({
      baseUrl: server.baseUrl,
      accessToken: b.accessToken,
      autoAck: false,
      autoSubscribe: false,
    });
    await socket.start();
    bob = createClient({
      baseUrl: server.baseUrl,
      userId: b.userId,
      accessToken: b.accessToken,
      deviceId: b.deviceId,
      fetchFn: socketFetch(socket, {
        fallback: (input, init) => {
          overHttp.push(String(input));
          return fetch(input as string, init);
        },
      }) as typeof fetch,
    });
    await startWithCrypto(alice);
    await startWithCrypto(bob);
  }, 120_000);

  afterAll(async () => {
    alice?.stopClient();
    bob?.stopClient();
    socket?.close();
    await server?.close();
  });

  it("exchanges messages that decrypt both ways", async () => {
    const bobId = bob.getUserId()!;
    const { room_id: roomId } = await alice.createRoom({
      preset: Preset.PrivateChat,
      invite: [bobId],
      initial_state: [
        { type: "m.room.encryption", state_key: "", content: { algorithm: "m.megolm.v1.aes-sha2" } },
      ],
    });
    await waitFor("bob's invite over the socket", () => bob.getRoom(roomId));
    await bob.joinRoom(roomId);
    await waitFor(
      "alice to see bob joined",
      () => alice.getRoom(roomId)?.getMember(bobId)?.membership === "join",
    );
    await waitFor("the room to be encrypted for bob", () =>
      bob.getCrypto()!.isEncryptionEnabledInRoom(roomId),
    );

    await alice.sendTextMessage(roomId, "from http to socket");
    await waitFor("bob to decrypt", () => bodies(bob, roomId).includes("from http to socket"));
    const ev = bob
      .getRoom(roomId)!
      .getLiveTimeline()
      .getEvents()
      .find((e) => e.getContent().body === "from http to socket")!;
    expect(ev.getWireType()).toBe("m.room.encrypted");

    await bob.sendTextMessage(roomId, "from socket to http");
    await waitFor("alice to decrypt", () => bodies(alice, roomId).includes("from socket to http"));
    // Bob needed no second connection: nothing of his went over HTTP.
    expect(overHttp).toEqual([]);
  }, 120_000);
});
