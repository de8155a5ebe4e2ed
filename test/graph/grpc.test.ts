import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startGraphGrpc } from "../../companion-services/graph/grpc.ts";
import { GrpcGraphClient } from "../../companion-services/graph/grpc-client.ts";
import { GraphService } from "../../companion-services/graph/service.ts";
import type { GraphTables } from "../../companion-services/graph/tables.ts";
import type { ServiceDatabase } from "../../companion-services/platform/database.ts";
import { MatrixError } from "../../companion-services/platform/errors.ts";
import { openFresh, silentLogger } from "../platform/helpers.ts";

describe("graph over gRPC (graph.proto): GrpcGraphClient against the server on a real port", () => {
  let env: Awaited<ReturnType<typeof openFresh>>;
  let rpc: Awaited<ReturnType<typeof startGraphGrpc>>;
  let client: GrpcGraphClient;
  let service: GraphService;
  let clock = 1_000;
  const STAR = "@star:test";
  const FANS = ["@f1:test", "@f2:test", "@f3:test", "@f4:test", "@f5:test"];

  beforeAll(async () => {
    env = await openFresh(["graph"]);
    const own = env.databases.get<GraphTables>("graph") as ServiceDatabase<GraphTables>;
    service = new GraphService(own.db, own.schema, () => clock++);
    await own.db
      .insertInto("social_metadata")
      .values(
        [STAR, ...FANS].map((u) => ({ user_id: u, follower_count: 0, following_count: 0, created_at: 0 })),
      )
      .execute();
    for (const f of FANS) await service.follow(f, STAR);
    await service.follow(STAR, FANS[0]!);
    rpc = await startGraphGrpc(service, silentLogger, "127.0.0.1:0");
    client = new GrpcGraphClient({ address: `127.0.0.1:${rpc.port}`, deadlineMs: 5_000 });
  }, 60_000);
  afterAll(async () => {
    client?.close();
    await rpc?.close();
    await env?.close();
  });

  it("GetUserFollowers pages newest first and matches the in-process answer", async () => {
    const seen: string[] = [];
    let from: string | null = null;
    do {
      const page = await client.getUserFollowers(STAR, { from, limit: 2 });
      expect(page).toEqual(await service.getUserFollowers(STAR, { from, limit: 2 }));
      seen.push(...page.items.map((e) => e.userId));
      from = page.next;
    } while (from);
    expect(seen).toEqual([...FANS].reverse());
    const one = await client.getUserFollowers(STAR, { limit: 10 });
    expect(one.next).toBeNull();
    expect(one.items[0]).toEqual({ userId: FANS[4], followedAt: expect.any(Number) });
  });

  it("GetUserFollowing, IsFollowing", async () => {
    expect(await client.getUserFollowing(STAR, { limit: 10 })).toEqual({
      items: [{ userId: FANS[0], followedAt: expect.any(Number) }],
      next: null,
    });
    expect(await client.getUserFollowing("@nobody:test", { limit: 10 })).toEqual({ items: [], next: null });
    expect(await client.isFollowing(FANS[2]!, STAR)).toBe(true);
    expect(await client.isFollowing(STAR, FANS[2]!)).toBe(false);
  });

  it("GetSocialMetadata: the row, or null for a user graph never heard of", async () => {
    // Counts are the consumer's (not running here): the row as stored.
    expect(await client.getSocialMetadata(STAR)).toEqual({
      userId: STAR,
      followerCount: 0,
      followingCount: 0,
    });
    expect(await client.getSocialMetadata("@nobody:test")).toBeNull();
  });

  it("bad requests come back as the callee's Matrix errors (400), not crashes", async () => {
    for (const call of [
      () => client.getUserFollowers(STAR, { limit: 0 }),
      () => client.getUserFollowers(STAR, { limit: 10_001 }),
      () => client.getUserFollowers("not-a-user", { limit: 1 }),
      () => client.getUserFollowing(STAR, { from: "garbage", limit: 1 }),
      () => client.isFollowing("@a\u0000:test", STAR),
    ]) {
      const err = await call().then(
        () => null,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(MatrixError);
      expect((err as MatrixError).errcode).toBe("M_INVALID_PARAM");
    }
  });
});
