import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GrpcGraphClient } from "../../companion-services/graph/grpc-client.ts";
import { distributedBackends, startDistributed } from "../e2e/distributed.ts";
import { waitFor } from "../platform/helpers.ts";

type Started = Awaited<ReturnType<typeof startDistributed>>;
type User = { userId: string; accessToken: string };

const run = distributedBackends ? describe : describe.skip;
if (!distributedBackends)
  console.log("graph distributed.test: skipped, needs DATABASE_URL and KAFKA_BROKERS (CI)");

// identity, the homeserver and graph as three processes: registrations and ignored-user lists
// reach graph over Kafka, its follow events come back to it for the counts, tokens are checked
// over gRPC, and its gRPC API answers other services.
run("graph in distributed mode (nova serve graph over Kafka and gRPC)", () => {
  let d: Started;
  let rpc: GrpcGraphClient;
  beforeAll(async () => {
    d = await startDistributed({ media: false, graph: true });
    rpc = new GrpcGraphClient({ address: d.graphGrpcAddress ?? "" });
  }, 120_000);
  afterAll(async () => {
    rpc?.close();
    await d?.stop();
  });

  const call = async (method: string, path: string, who: User | null, body?: unknown) => {
    const r = await fetch(`${d.baseUrl}${path}`, {
      method,
      headers: {
        ...(who ? { Authorization: `Bearer ${who.accessToken}` } : {}),
        ...(body !== undefined ? { "Content-Type": "application/json" } : {}),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await r.text();
    return { status: r.status, body: (text ? JSON.parse(text) : {}) as Record<string, unknown> };
  };
  const register = async (name: string): Promise<User> => {
    const r = await call("POST", "/_matrix/client/v3/register", null, {
      username: `${name}${Date.now().toString(36)}`,
      password: "correct horse battery staple",
      auth: { type: "m.login.dummy" },
    });
    expect(r.status).toBe(200);
    return { userId: r.body.user_id as string, accessToken: r.body.access_token as string };
  };
  const user = (u: string, tail: string) => `/_nova/v1/users/${encodeURIComponent(u)}/${tail}`;

  it("follows across processes; counts converge; a block from the homeserver ends it", async () => {
    const [alice, bob] = [await register("alice"), await register("bob")];
    // 404 until bob's user.registered has reached graph.
    await waitFor(
      async () => (await call("PUT", user(bob.userId, "follow"), alice)).status === 200,
      30_000,
      "follow accepted",
    );
    await waitFor(
      async () => (await call("GET", user(bob.userId, "social"), alice)).body.follower_count === 1,
      30_000,
      "bob's follower count",
    );
    expect(await rpc.isFollowing(alice.userId, bob.userId)).toBe(true);
    expect((await rpc.getUserFollowers(bob.userId, { limit: 10 })).items.map((e) => e.userId)).toEqual([
      alice.userId,
    ]);
    expect(await rpc.getSocialMetadata(bob.userId)).toEqual({
      userId: bob.userId,
      followerCount: 1,
      followingCount: 0,
    });

    const ignored = await call(
      "PUT",
      `/_matrix/client/v3/user/${encodeURIComponent(bob.userId)}/account_data/m.ignored_user_list`,
      bob,
      { ignored_users: { [alice.userId]: {} } },
    );
    expect(ignored.status).toBe(200);
    await waitFor(
      async () => (await call("PUT", user(bob.userId, "follow"), alice)).status === 403,
      30_000,
      "follow refused after the block",
    );
    await waitFor(
      async () => (await rpc.getSocialMetadata(bob.userId))?.followerCount === 0,
      30_000,
      "count back to 0",
    );
    expect(await rpc.isFollowing(alice.userId, bob.userId)).toBe(false);
  });
});
