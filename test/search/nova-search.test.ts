import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MemoryEventBus } from "../../companion-services/platform/event-bus/memory.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { waitFor } from "../helpers/wait.ts";
import { createRoom, post, publishContent, type User } from "./helpers.ts";

type Answer = { results: Record<string, unknown>[]; next?: string };

describe("GET /_nova/v1/search", () => {
  let t: TestServer;
  let bus: MemoryEventBus;
  let alice: User;
  const get = async (query: string, token = alice.accessToken) => {
    const r = await t.call("GET", `/_nova/v1/search?${query}`, { token });
    return { status: r.status, body: r.body as unknown as Answer & { errcode?: string } };
  };
  const until = (query: string, n: number) =>
    waitFor(
      `${n} results for ${query}`,
      async () => {
        const r = await get(query);
        return r.status === 200 && r.body.results.length === n ? r.body : null;
      },
      10_000,
    );

  beforeAll(async () => {
    bus = new MemoryEventBus();
    t = await startTestServer({}, { bus });
    alice = await t.register(`alice_${randomUUID().slice(0, 6)}`);
  }, 60_000);
  afterAll(async () => {
    await t?.close();
    await bus?.close();
  });

  it("finds users by part of their id and by display name; a deactivated one no more", async () => {
    const carol = await t.register(`carolina_${randomUUID().slice(0, 6)}`);
    await until("type=users&q=caroli", 1);
    const put = await t.call(
      "PUT",
      `/_matrix/client/v3/profile/${encodeURIComponent(carol.userId)}/displayname`,
      {
        token: carol.accessToken,
        body: { displayname: "Zebulon Quartz" },
      },
    );
    expect(put.status).toBe(200);
    const byName = await until("type=users&q=quartz", 1);
    expect(byName.results[0]).toMatchObject({
      type: "user",
      user_id: carol.userId,
      displayname: "Zebulon Quartz",
    });
    expect((await until("type=users&q=ebulo", 1)).results[0]).toMatchObject({ user_id: carol.userId });
    expect((await until(`type=users&q=${encodeURIComponent(carol.userId)}`, 1)).results[0]).toMatchObject({
      user_id: carol.userId,
    });
    const off = await t.call("POST", "/_matrix/client/v3/account/deactivate", {
      token: carol.accessToken,
      body: {
        auth: {
          type: "m.login.password",
          identifier: { type: "m.id.user", user: carol.userId },
          password: "correct horse battery staple",
        },
      },
    });
    expect(off.status).toBe(200);
    await until("type=users&q=quartz", 0);
  });

  it("lists public rooms by name and topic while their join rule is public", async () => {
    const roomId = await createRoom(t, alice, {
      preset: "public_chat",
      name: "Gardening Club",
      topic: "tomatoes and cucumbers",
    });
    await createRoom(t, alice, { preset: "private_chat", name: "Secret Gardening" });
    const found = await until("type=rooms&q=gardening", 1);
    expect(found.results[0]).toMatchObject({ type: "room", room_id: roomId, name: "Gardening Club" });
    expect((await until("type=rooms&q=tomato", 1)).results[0]).toMatchObject({ room_id: roomId });
    const r = await t.call(
      "PUT",
      `/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}/state/m.room.join_rules/`,
      { token: alice.accessToken, body: { join_rule: "invite" } },
    );
    expect(r.status).toBe(200);
    await until("type=rooms&q=gardening", 0);
  });

  it("finds public posts and comments from content's events, pages them, and drops deleted ones", async () => {
    const ids = Array.from({ length: 3 }, () => randomUUID());
    for (const [i, id] of ids.entries())
      await publishContent(
        bus,
        "post.published",
        post(id, alice.userId, `hiking trip number ${i} in the mountains`),
      );
    const hidden = randomUUID();
    await publishContent(
      bus,
      "post.published",
      post(hidden, alice.userId, "hiking alone", { visibility: "followers" }),
    );
    const comment = randomUUID();
    await publishContent(bus, "comment.created", {
      comment_id: comment,
      post_id: ids[0]!,
      post_author_id: alice.userId,
      parent_id: null,
      author_id: alice.userId,
      content: "lovely mountains",
      created_at: Date.now(),
    } as { post_id: string });
    const page1 = await until("type=posts&q=mountain&limit=2", 2);
    expect(page1.next).toBeTruthy();
    const page2 = await get(`type=posts&q=mountain&limit=2&from=${encodeURIComponent(page1.next!)}`);
    expect(page2.body.results).toHaveLength(1);
    expect(page2.body.next).toBeUndefined();
    expect(new Set([...page1.results, ...page2.body.results].map((p) => p.post_id))).toEqual(new Set(ids));
    expect((await get("type=posts&q=alone")).body.results).toEqual([]);
    expect((await until("type=comments&q=lovely", 1)).results[0]).toMatchObject({ comment_id: comment });
    await publishContent(bus, "post.updated", post(ids[1]!, alice.userId, "now about rivers"));
    await until("type=posts&q=mountain", 2);
    await publishContent(bus, "post.deleted", {
      post_id: ids[0]!,
      author_id: alice.userId,
      deleted_at: Date.now(),
    } as {
      post_id: string;
    });
    await until("type=posts&q=mountain", 1);
    await until("type=comments&q=lovely", 0);
    expect((await until("type=posts&q=river", 1)).results[0]).toMatchObject({ post_id: ids[1] });
  });

  it("answers bad input with 400, never 500", async () => {
    for (const q of [
      "type=posts&q=",
      "type=posts&q=%20%20",
      "type=posts&q=a%00b",
      `type=posts&q=${"x".repeat(600)}`,
      "type=nope&q=hello",
      "type=posts&q=hello&limit=0",
      "type=posts&q=hello&limit=abc",
      "type=posts&q=hello&from=garbage!!",
      `type=posts&q=hello&from=${Buffer.from('{"o":-5}').toString("base64url")}`,
      "type=users",
    ]) {
      const r = await get(q);
      expect(r.status, q).toBe(400);
      expect(r.body.errcode, q).toBe("M_INVALID_PARAM");
    }
    expect((await get(`type=posts&q=${encodeURIComponent('"a -b or ( :* &')}`)).status).toBe(200);
    expect((await get("type=users&q=%25_%5C")).status).toBe(200);
    expect((await t.call("GET", "/_nova/v1/search?q=x")).status).toBe(401);
  });

  it("reindex drops the read model and rebuilds it from what the bus keeps", async () => {
    const roomId = await createRoom(t, alice, { preset: "public_chat", name: "Reindex Lounge" });
    await until("type=rooms&q=lounge", 1);
    const before = (await t.search!.service.searchRooms("lounge", { limit: 5 })).items;
    expect(before.map((r) => r.roomId)).toEqual([roomId]);
    const { generation } = await t.search!.reindex();
    expect(generation).toBeGreaterThan(1);
    expect((await until("type=rooms&q=lounge", 1)).results[0]).toMatchObject({ room_id: roomId });
    await until("type=posts&q=river", 1);
  });

  it("reindex through the admin API: admins only", async () => {
    const r = await t.call("POST", "/_synapse/admin/nova/v1/search/reindex", {
      token: alice.accessToken,
      body: {},
    });
    expect(r.status).toBe(403);
  });
});
