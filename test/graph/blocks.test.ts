import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { OutboxTables } from "../../companion-services/platform/outbox/tables.ts";
import { waitFor } from "../platform/helpers.ts";
import { type GraphServer, graphServer, type User } from "./helpers.ts";

describe("graph and messaging's ignored users (m.ignored_user_list)", () => {
  let g: GraphServer;
  beforeAll(async () => {
    g = await graphServer();
  }, 60_000);
  afterAll(async () => {
    await g?.server.close();
  });

  const ignore = async (who: User, ignored: string[]) => {
    const r = await g.server.call(
      "PUT",
      `/_matrix/client/v3/user/${encodeURIComponent(who.userId)}/account_data/m.ignored_user_list`,
      { token: who.accessToken, body: { ignored_users: Object.fromEntries(ignored.map((u) => [u, {}])) } },
    );
    expect(r.status).toBe(200);
  };
  const blocksOf = async (userId: string) =>
    (
      await g.graphDb
        .selectFrom("graph_blocks")
        .select("blocked_id")
        .where("user_id", "=", userId)
        .orderBy("blocked_id")
        .execute()
    ).map((r) => r.blocked_id);
  const ids = (body: Record<string, unknown>, key: string) =>
    (body[key] as { user_id: string }[]).map((e) => e.user_id);

  it("a block ends the follows between the two (counts follow), and neither may follow the other: 403", async () => {
    const [dave, erin] = [await g.user(), await g.user()];
    await g.follow(dave, erin.userId);
    await g.follow(erin, dave.userId);
    await g.countsReach(dave.userId, 1, 1);
    await ignore(dave, [erin.userId]);
    await waitFor(async () => (await blocksOf(dave.userId)).includes(erin.userId), 10_000, "block copied");
    await g.countsReach(dave.userId, 0, 0);
    await g.countsReach(erin.userId, 0, 0);
    for (const [who, target] of [
      [erin, dave],
      [dave, erin],
    ] as const) {
      const r = await g.follow(who, target.userId);
      expect([r.status, r.body.errcode]).toEqual([403, "M_FORBIDDEN"]);
    }
    expect((await g.social(erin, dave.userId)).body).toMatchObject({ following: false, followed_by: false });

    // Taken back: following works again.
    await ignore(dave, []);
    await waitFor(async () => (await blocksOf(dave.userId)).length === 0, 10_000, "block lifted");
    expect((await g.follow(erin, dave.userId)).status).toBe(200);
    await g.countsReach(dave.userId, 1, 0);
  });

  it("users in a block are hidden from each other in anyone's lists; others still see both", async () => {
    const [frank, gina, hal, ivy] = [await g.user(), await g.user(), await g.user(), await g.user()];
    for (const fan of [gina, hal]) await g.follow(fan, frank.userId);
    for (const idol of [gina, hal]) await g.follow(ivy, idol.userId);
    await ignore(gina, [hal.userId]);
    await waitFor(async () => (await blocksOf(gina.userId)).includes(hal.userId), 10_000, "block copied");
    const followersOfFrank = (who: User) =>
      g.api("GET", `/_nova/v1/users/${encodeURIComponent(frank.userId)}/followers`, who);
    expect(ids((await followersOfFrank(gina)).body, "followers")).toEqual([gina.userId]);
    expect(ids((await followersOfFrank(hal)).body, "followers")).toEqual([hal.userId]);
    expect(ids((await followersOfFrank(ivy)).body, "followers").sort()).toEqual(
      [gina.userId, hal.userId].sort(),
    );
    const ivyFollows = (who: User) =>
      g.api("GET", `/_nova/v1/users/${encodeURIComponent(ivy.userId)}/following`, who);
    expect(ids((await ivyFollows(hal)).body, "following")).toEqual([hal.userId]);
    expect(ids((await ivyFollows(frank)).body, "following").sort()).toEqual([gina.userId, hal.userId].sort());
  });

  it("messaging publishes the whole list with the account-data write (account.ignored_users_changed, keyed by user)", async () => {
    const [lee, max] = [await g.user(), await g.user()];
    await ignore(lee, [max.userId]);
    const messaging = g.server.ctx.databases.get<OutboxTables>("messaging").db;
    const rows = await messaging
      .selectFrom("outbox_events")
      .select(["aggregate_type", "aggregate_id", "payload"])
      .where("event_type", "=", "account.ignored_users_changed")
      .where("aggregate_id", "=", lee.userId)
      .execute();
    expect(rows).toEqual([
      {
        aggregate_type: "account",
        aggregate_id: lee.userId,
        payload: { user_id: lee.userId, ignored_user_ids: [max.userId], changed_at: expect.any(Number) },
      },
    ]);
  });

  it("a list's keys that are not user ids, or the user themself, are not copied", async () => {
    const jo = await g.user();
    const kim = await g.user();
    await ignore(jo, [kim.userId, jo.userId, "not-a-user"]);
    await waitFor(async () => (await blocksOf(jo.userId)).length > 0, 10_000, "block copied");
    expect(await blocksOf(jo.userId)).toEqual([kim.userId]);
  });
});
