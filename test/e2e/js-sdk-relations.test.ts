import {
  ClientEvent,
  createClient,
  Direction,
  type MatrixClient,
  MsgType,
  RelationType,
  SyncState,
} from "matrix-js-sdk";
import { logger } from "matrix-js-sdk/lib/logger.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { waitFor } from "../helpers/wait.ts";

// matrix-js-sdk logs through loglevel, whose setLevel its typings do not expose.
(logger as unknown as { setLevel(level: string): void }).setLevel("error");

/** Threads, edits and relations as a real matrix-js-sdk client (threadSupport on) reads them. */
let server: TestServer;
let baseUrl: string;
const clients: MatrixClient[] = [];

async function syncingClient(session: {
  userId: string;
  deviceId: string;
  accessToken: string;
}): Promise<MatrixClient> {
  const client = createClient({ baseUrl, ...session });
  clients.push(client);
  const prepared = new Promise<void>((resolve, reject) => {
    client.on(ClientEvent.Sync, (state: SyncState) => {
      if (state === SyncState.Prepared) resolve();
      if (state === SyncState.Error) reject(new Error("sync error"));
    });
  });
  await client.startClient({ initialSyncLimit: 20, threadSupport: true });
  await prepared;
  return client;
}

beforeAll(async () => {
  server = await startTestServer();
  baseUrl = `http://127.0.0.1:${server.port}`;
});
afterAll(async () => {
  for (const c of clients) c.stopClient();
  await server?.close();
});

describe("matrix-js-sdk: relations and threads", () => {
  let alice: MatrixClient;
  let bob: MatrixClient;
  let roomId: string;
  let rootId: string;
  let originalId: string;
  let editId: string;

  beforeAll(async () => {
    alice = await syncingClient(await server.register());
    bob = await syncingClient(await server.register());
    roomId = (await alice.createRoom({ name: "threads", preset: "public_chat" as never })).room_id;
    await bob.joinRoom(roomId);
    rootId = (await alice.sendTextMessage(roomId, "thread root")).event_id;
    await bob.sendMessage(roomId, rootId, { msgtype: MsgType.Text, body: "first reply" });
    await alice.sendMessage(roomId, rootId, { msgtype: MsgType.Text, body: "second reply" });
    originalId = (await alice.sendTextMessage(roomId, "helo")).event_id;
    editId = (
      await alice.sendMessage(roomId, {
        msgtype: MsgType.Text,
        body: "* hello",
        "m.new_content": { msgtype: MsgType.Text, body: "hello" },
        "m.relates_to": { rel_type: RelationType.Replace, event_id: originalId },
      })
    ).event_id;
  }, 60_000);

  it("builds the thread from the server's thread summary and /relations", async () => {
    // A client starting now learns the thread from the root's bundled m.thread aggregation.
    const carol = await syncingClient(await server.register());
    await carol.joinRoom(roomId);
    const thread = await waitFor("carol's client has the thread", () =>
      carol.getRoom(roomId)?.getThread(rootId),
    );
    await waitFor("the thread counts both replies", () => thread.length === 2);
    await waitFor("the thread's replies are fetched", () => thread.initialEventsFetched);
    const bodies = thread.timeline.map((e) => e.getContent().body);
    expect(bodies).toContain("first reply");
    expect(bodies).toContain("second reply");
    expect(thread.replyToEvent?.getContent().body).toBe("second reply");
  });

  it("applies the edit bundled with the original event", async () => {
    // A client that has not synced the room has only the server's bundle to go by.
    const cold = createClient({ baseUrl, ...(await server.register()) });
    await cold.joinRoom(roomId);
    const raw = await cold.fetchRoomEvent(roomId, originalId);
    const event = cold.getEventMapper()(raw);
    expect(event.replacingEvent()?.getId()).toBe(editId);
    expect(event.getContent().body).toBe("hello");
    expect(event.getOriginalContent().body).toBe("helo");
    // And live, on bob's timeline.
    await waitFor("bob's timeline shows the edit", () => {
      const live = bob.getRoom(roomId)?.findEventById(originalId);
      return live?.replacingEvent()?.getId() === editId;
    });
  });

  it("pages client.relations() both ways", async () => {
    const threadRels = await bob.relations(roomId, rootId, RelationType.Thread, null, {
      dir: Direction.Forward,
      limit: 1,
    });
    expect(threadRels.originalEvent?.getId()).toBe(rootId);
    expect(threadRels.events.map((e) => e.getContent().body)).toEqual(["first reply"]);
    expect(threadRels.nextBatch).toBeTruthy();
    const page2 = await bob.relations(roomId, rootId, RelationType.Thread, null, {
      dir: Direction.Forward,
      from: threadRels.nextBatch!,
    });
    expect(page2.events.map((e) => e.getContent().body)).toEqual(["second reply"]);
    expect(page2.nextBatch).toBeNull();
    const edits = await bob.relations(roomId, originalId, RelationType.Replace, "m.room.message");
    expect(edits.events.map((e) => e.getId())).toEqual([editId]);
  });
});
