import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MatrixError } from "../../companion-services/platform/errors.ts";
import { createLogger } from "../../companion-services/platform/logger.ts";
import { startSearchGrpc } from "../../companion-services/search/grpc.ts";
import { GrpcSearchClient } from "../../companion-services/search/grpc-client.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { createRoom, searchUntil, send, type User } from "./helpers.ts";

describe("search over gRPC (distributed mode's SearchClient)", () => {
  let t: TestServer;
  let alice: User;
  let room: string;
  let rpc: { port: number; close(): Promise<void> };
  let client: GrpcSearchClient;

  beforeAll(async () => {
    t = await startTestServer();
    alice = await t.register();
    room = await createRoom(t, alice, { preset: "public_chat", name: "Orchard", topic: "apples and pears" });
    await send(t, alice, room, "apples are ripe");
    await send(t, alice, room, "pears later");
    await searchUntil(t, alice, "apples", 2);
    rpc = await startSearchGrpc(t.search!.service, createLogger("silent"), "127.0.0.1:0");
    client = new GrpcSearchClient({ address: `127.0.0.1:${rpc.port}` });
  }, 60_000);
  afterAll(async () => {
    client?.close();
    await rpc?.close();
    await t?.close();
  });

  it("answers as the in-process service does", async () => {
    const q = {
      term: "apples OR pears",
      roomIds: [room],
      keys: ["content.body" as const],
      orderBy: "recent" as const,
      limit: 1,
      withMatches: true,
    };
    const local = await t.search!.service.searchRoomEvents(q);
    const remote = await client.searchRoomEvents(q);
    expect(remote).toEqual(local);
    expect(remote.count).toBe(2);
    expect(remote.matches).toHaveLength(2);
    const next = await client.searchRoomEvents({ ...q, from: remote.next! });
    expect(next.hits[0]!.eventId).not.toBe(remote.hits[0]!.eventId);
    expect(await client.searchRooms("orchard", { limit: 5 })).toEqual(
      await t.search!.service.searchRooms("orchard", { limit: 5 }),
    );
    expect(
      (await client.searchUsers(alice.userId.slice(1, 6), { limit: 5 })).items.map((u) => u.userId),
    ).toContain(alice.userId);
    expect(await client.searchPosts("nothing", { limit: 5 })).toEqual({ items: [] });
  });

  it("carries a bad query back as a 400 Matrix error", async () => {
    const err = await client
      .searchRoomEvents({ term: "", roomIds: [room], orderBy: "rank", limit: 5 })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MatrixError);
    expect((err as MatrixError).status).toBe(400);
    const bad = await client.searchPosts("x", { limit: 5, from: "nope" }).catch((e: unknown) => e);
    expect((bad as MatrixError).status).toBe(400);
  });
});
