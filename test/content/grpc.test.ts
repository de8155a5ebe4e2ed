import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startContentGrpc } from "../../companion-services/content/grpc.ts";
import { GrpcContentClient } from "../../companion-services/content/grpc-client.ts";
import { type Content, createContent } from "../../companion-services/content/index.ts";
import { MemoryEventBus } from "../../companion-services/platform/event-bus/memory.ts";
import { loadConfig } from "../../server/config.ts";
import { openFresh, silentLogger } from "../platform/helpers.ts";

const BOB = "@bob:content.test";
const ALICE = "@alice:content.test";
const noMedia = { getMediaBatch: async () => [], getVideo: async () => null };

/** Content's gRPC API as feed and search call it, over a real port: GetPost, GetPosts, GetUserPosts. */
describe("content over gRPC", () => {
  let fresh: Awaited<ReturnType<typeof openFresh>>;
  let bus: MemoryEventBus;
  let content: Content;
  let rpc: Awaited<ReturnType<typeof startContentGrpc>>;
  let client: GrpcContentClient;

  beforeAll(async () => {
    fresh = await openFresh(["content"]);
    bus = new MemoryEventBus();
    const config = loadConfig({ NOVA_DATA_DIR: "memory://" });
    content = createContent(fresh.databases.get("content"), { media: noMedia }, bus, silentLogger, config);
    rpc = await startContentGrpc(content.service, silentLogger, "127.0.0.1:0");
    client = new GrpcContentClient({ address: `127.0.0.1:${rpc.port}` });
  });
  afterAll(async () => {
    client?.close();
    await rpc?.close();
    await bus?.close();
    await fresh?.close();
  });

  it("answers a post as the viewer may see it, and batches in the order asked", async () => {
    const a = await content.service.posts.create(BOB, { title: "T", content: "a", language: "de" });
    const b = await content.service.posts.create(BOB, { content: "b", visibility: "followers" });
    const draft = await content.service.posts.create(BOB, { content: "d", status: "draft" });
    const gone = await content.service.posts.create(BOB, { content: "g" });
    await content.service.posts.delete(BOB, gone.id);

    expect(await client.getPost(a.id, null)).toEqual(await content.service.getPost(a.id, null));
    expect(await client.getPost(a.id, ALICE)).toMatchObject({
      id: a.id,
      title: "T",
      language: "de",
      likeCount: 0,
    });
    // Without graph, a followers-only post is its author's alone; a service sees it.
    expect(await client.getPost(b.id, ALICE)).toBeNull();
    expect(await client.getPost(b.id, null)).toMatchObject({ visibility: "followers" });
    expect(await client.getPost(draft.id, BOB)).toMatchObject({ status: "draft" });
    expect(await client.getPost(draft.id, null)).toBeNull();
    expect(await client.getPost("not-a-uuid", null)).toBeNull();

    const batch = await client.getPosts([
      b.id,
      draft.id,
      gone.id,
      "00000000-0000-4000-8000-000000000000",
      a.id,
    ]);
    expect(batch.map((p) => p.id)).toEqual([b.id, a.id]);
    expect(await client.getPosts([])).toEqual([]);
  });

  it("pages an author's posts newest first", async () => {
    const author = "@pager:content.test";
    const ids: string[] = [];
    for (let i = 0; i < 5; i++)
      ids.push((await content.service.posts.create(author, { content: `p${i}` })).id);
    const first = await client.getUserPosts(author, { limit: 3 });
    expect(first.items.map((p) => p.id)).toEqual(ids.slice(2).reverse());
    expect(first.next).not.toBeNull();
    const second = await client.getUserPosts(author, { from: first.next, limit: 3 });
    expect(second.items.map((p) => p.id)).toEqual(ids.slice(0, 2).reverse());
    expect(second.next).toBeNull();
  });

  it("refuses malformed requests with INVALID_ARGUMENT", async () => {
    await expect(client.getUserPosts("not-a-user", { limit: 3 })).rejects.toMatchObject({ status: 400 });
    await expect(client.getUserPosts(BOB, { limit: 0 })).rejects.toMatchObject({ status: 400 });
    await expect(client.getUserPosts(BOB, { from: "garbage", limit: 3 })).rejects.toMatchObject({
      status: 400,
    });
    const many = Array.from({ length: 501 }, () => "00000000-0000-4000-8000-000000000000");
    await expect(client.getPosts(many)).rejects.toMatchObject({ status: 400 });
    expect(await client.getPosts(many.slice(0, 500))).toEqual([]);
  });
});
