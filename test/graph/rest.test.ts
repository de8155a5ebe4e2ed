import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GRAPH_ROUTES } from "../../companion-services/graph/routes.ts";
import { openApiDocument } from "../../companion-services/platform/http/api.ts";
import { waitFor } from "../platform/helpers.ts";
import { type GraphServer, graphServer, type User } from "./helpers.ts";

describe("graph REST (/_nova/v1/users/{userId}/follow|followers|following|social)", () => {
  let g: GraphServer;
  beforeAll(async () => {
    g = await graphServer();
  }, 60_000);
  afterAll(async () => {
    await g?.server.close();
  });

  const path = (userId: string, tail: string) => `/_nova/v1/users/${encodeURIComponent(userId)}/${tail}`;

  it("follows, idempotently; counts and the caller-relative booleans follow", async () => {
    const [alice, bob] = [await g.user(), await g.user()];
    const first = await g.follow(alice, bob.userId);
    expect(first).toEqual({ status: 200, body: { following: true } });
    expect((await g.follow(alice, bob.userId)).status).toBe(200);
    await g.countsReach(bob.userId, 1, 0);
    await g.countsReach(alice.userId, 0, 1);
    expect((await g.social(alice, bob.userId)).body).toEqual({
      user_id: bob.userId,
      follower_count: 1,
      following_count: 0,
      following: true,
      followed_by: false,
    });
    expect((await g.social(bob, alice.userId)).body).toMatchObject({ following: false, followed_by: true });
    const followers = await g.api("GET", path(bob.userId, "followers"), alice);
    expect(followers.status).toBe(200);
    expect((followers.body.followers as { user_id: string }[]).map((f) => f.user_id)).toEqual([alice.userId]);
    expect(followers.body.next).toBeUndefined();
    const following = await g.api("GET", path(alice.userId, "following"), bob);
    expect((following.body.following as { user_id: string }[]).map((f) => f.user_id)).toEqual([bob.userId]);
  });

  it("the followee finds a follows notification in /_nova/v1/notifications (graph's event reached notifications)", async () => {
    const [fan, idol] = [await g.user(), await g.user()];
    await g.follow(fan, idol.userId);
    let items: { kind: string; body: Record<string, unknown> }[] = [];
    await waitFor(
      async () => {
        const r = await g.api("GET", "/_nova/v1/notifications", idol);
        items = r.body.notifications as typeof items;
        return items.length > 0;
      },
      10_000,
      "the follow notification",
    );
    expect(items.map((n) => [n.kind, n.body.type, n.body.follower_id])).toEqual([
      ["follows", "follow", fan.userId],
    ]);
  });

  it("unfollows, idempotently, and the counts go back", async () => {
    const [a, b] = [await g.user(), await g.user()];
    await g.follow(a, b.userId);
    await g.countsReach(b.userId, 1, 0);
    expect(await g.unfollow(a, b.userId)).toEqual({ status: 200, body: { following: false } });
    expect(await g.unfollow(a, b.userId)).toEqual({ status: 200, body: { following: false } });
    await g.countsReach(b.userId, 0, 0);
    await g.countsReach(a.userId, 0, 0);
    // Never followed at all: still fine, nothing moves.
    const c = await g.user();
    expect((await g.unfollow(c, b.userId)).status).toBe(200);
    expect((await g.social(c, b.userId)).body).toMatchObject({ follower_count: 0, following: false });
  });

  it("following yourself is 400 M_INVALID_PARAM", async () => {
    const a = await g.user();
    const r = await g.follow(a, a.userId);
    expect(r.status).toBe(400);
    expect(r.body.errcode).toBe("M_INVALID_PARAM");
  });

  it("unknown users are 404 M_NOT_FOUND on every route", async () => {
    const a = await g.user();
    const ghost = "@nobody-here:localhost";
    for (const [method, tail] of [
      ["PUT", "follow"],
      ["DELETE", "follow"],
      ["GET", "followers"],
      ["GET", "following"],
      ["GET", "social"],
    ] as const) {
      const r = await g.api(method, path(ghost, tail), a);
      expect([method, tail, r.status, r.body.errcode]).toEqual([method, tail, 404, "M_NOT_FOUND"]);
    }
  });

  it("bad input is 400 (not a user id, NUL, bad limit, a forged cursor), no token is 401", async () => {
    const a = await g.user();
    const bad = async (p: string, method = "GET") => {
      const r = await g.api(method, p, a);
      expect([p, r.status, r.body.errcode]).toEqual([p, 400, "M_INVALID_PARAM"]);
    };
    await bad("/_nova/v1/users/not-a-user/follow", "PUT");
    await bad("/_nova/v1/users/%40a%00b%3Alocalhost/follow", "PUT");
    await bad(`/_nova/v1/users/%40${"x".repeat(300)}%3Alocalhost/social`);
    await bad(`${path(a.userId, "followers")}?limit=abc`);
    await bad(`${path(a.userId, "followers")}?limit=0`);
    await bad(`${path(a.userId, "followers")}?limit=1000`);
    await bad(`${path(a.userId, "following")}?from=not-a-cursor`);
    await bad(`${path(a.userId, "following")}?from=${Buffer.from('[1,"x"]').toString("base64url")}`);
    await bad(`${path(a.userId, "following")}?from=%00`);
    const anonymous = await g.api("PUT", path(a.userId, "follow"), null);
    expect(anonymous.status).toBe(401);
    expect(anonymous.body.errcode).toBe("M_MISSING_TOKEN");
  });

  it("pages followers newest first with an opaque cursor, stable while new follows arrive", async () => {
    const star = await g.user();
    const fans: User[] = [];
    for (let i = 0; i < 5; i++) {
      const f = await g.user();
      fans.push(f);
      await g.follow(f, star.userId);
    }
    const seen: string[] = [];
    let next: string | undefined;
    let pages = 0;
    do {
      const q = next ? `?limit=2&from=${encodeURIComponent(next)}` : "?limit=2";
      const r = await g.api("GET", `${path(star.userId, "followers")}${q}`, star);
      expect(r.status).toBe(200);
      const items = r.body.followers as { user_id: string; followed_at: number }[];
      expect(items.length).toBeLessThanOrEqual(2);
      seen.push(...items.map((i) => i.user_id));
      next = r.body.next as string | undefined;
      // A follow that arrives mid-way is newer than every cursor: it never shifts later pages.
      if (pages === 0) await g.follow(await g.user(), star.userId);
      pages++;
    } while (next);
    expect(seen).toEqual(fans.map((f) => f.userId).reverse());
    expect(pages).toBe(3);
    // The newcomer heads a fresh first page.
    const top = await g.api("GET", `${path(star.userId, "followers")}?limit=1`, star);
    expect((top.body.followers as unknown[]).length).toBe(1);
    expect(seen).not.toContain((top.body.followers as { user_id: string }[])[0]!.user_id);
  });

  it("GRAPH_ROUTES publish as OpenAPI with their parameters", () => {
    const doc = openApiDocument(GRAPH_ROUTES, { title: "graph", version: "1" });
    const paths = doc.paths ?? {};
    expect(Object.keys(paths).sort()).toEqual([
      "/_nova/v1/users/{userId}/follow",
      "/_nova/v1/users/{userId}/followers",
      "/_nova/v1/users/{userId}/following",
      "/_nova/v1/users/{userId}/social",
    ]);
    expect(Object.keys(paths["/_nova/v1/users/{userId}/follow"]!).sort()).toEqual(["delete", "put"]);
    const list = paths["/_nova/v1/users/{userId}/followers"]!.get!;
    expect((list.parameters ?? []).map((p) => ("name" in p ? p.name : "")).sort()).toEqual([
      "from",
      "limit",
      "userId",
    ]);
  });
});
