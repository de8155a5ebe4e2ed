import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { waitFor } from "../helpers/wait.ts";
import {
  createRoom,
  join,
  type RoomEventsAnswer,
  search,
  searchUntil,
  send,
  state,
  type User,
} from "./helpers.ts";

describe("POST /_matrix/client/v3/search", () => {
  let t: TestServer;
  let alice: User;
  let bob: User;
  let eve: User;
  let room: string;

  beforeAll(async () => {
    t = await startTestServer();
    [alice, bob, eve] = await Promise.all([t.register(), t.register(), t.register()]);
    room = await createRoom(t, alice, { preset: "private_chat", invite: [bob.userId] });
    await join(t, bob, room);
    await send(t, alice, room, "the quick brown fox");
    await send(t, bob, room, "foxes are quick, very quick");
    await send(t, alice, room, "a slow turtle");
    await send(t, bob, room, "another fox appears");
    await searchUntil(t, alice, "fox", 3);
  }, 60_000);
  afterAll(() => t?.close());

  const ids = (r: RoomEventsAnswer) => r.results.map((x) => x.result.content as { body: string });

  it("finds messages by a word (stemmed), by rank, with count, highlights and full client events", async () => {
    const r = await search(t, alice, { search_term: "quick fox" });
    expect(r.status).toBe(200);
    expect(r.events.count).toBe(2);
    expect(r.events.results[0]!.result.content).toMatchObject({ body: "foxes are quick, very quick" });
    expect(r.events.results[0]!.rank).toBeGreaterThanOrEqual(r.events.results[1]!.rank);
    const ev = r.events.results[0]!.result;
    expect(ev).toMatchObject({ type: "m.room.message", room_id: room, sender: bob.userId });
    expect(typeof ev.event_id).toBe("string");
    expect(typeof ev.origin_server_ts).toBe("number");
    expect(r.events.highlights.map((h) => h.toLowerCase()).sort()).toEqual(
      expect.arrayContaining(["fox", "quick"]),
    );
  });

  it("orders by recent and pages with next_batch", async () => {
    const first = await search(t, alice, { search_term: "fox", order_by: "recent", filter: { limit: 2 } });
    expect(first.events.count).toBe(3);
    expect(ids(first.events).map((c) => c.body)).toEqual([
      "another fox appears",
      "foxes are quick, very quick",
    ]);
    expect(first.events.next_batch).toBeTruthy();
    const second = await search(
      t,
      alice,
      { search_term: "fox", order_by: "recent", filter: { limit: 2 } },
      first.events.next_batch,
    );
    expect(ids(second.events).map((c) => c.body)).toEqual(["the quick brown fox"]);
    expect(second.events.next_batch).toBeUndefined();
    const ranked = await search(t, alice, { search_term: "fox", filter: { limit: 2 } });
    const rest = await search(
      t,
      alice,
      { search_term: "fox", filter: { limit: 2 } },
      ranked.events.next_batch,
    );
    const all = [...ids(ranked.events), ...ids(rest.events)].map((c) => c.body);
    expect(new Set(all).size).toBe(3);
  });

  it("filters by sender and gives context, profiles, groups and state", async () => {
    const r = await search(t, alice, {
      search_term: "fox",
      filter: { senders: [bob.userId] },
      event_context: { before_limit: 1, after_limit: 1, include_profile: true },
      groupings: { group_by: [{ key: "room_id" }, { key: "sender" }] },
      include_state: true,
    });
    expect(r.events.count).toBe(2);
    for (const x of r.events.results) expect(x.result.sender).toBe(bob.userId);
    const ctx = r.events.results.find(
      (x) => (x.result.content as { body: string }).body === "foxes are quick, very quick",
    )!.context!;
    expect((ctx.events_before as { content: { body: string } }[]).map((e) => e.content.body)).toEqual([
      "the quick brown fox",
    ]);
    expect((ctx.events_after as { content: { body: string } }[]).map((e) => e.content.body)).toEqual([
      "a slow turtle",
    ]);
    expect(Object.keys(ctx.profile_info as object)).toContain(bob.userId);
    expect(r.events.groups?.room_id?.[room]?.results).toHaveLength(2);
    expect(Object.keys(r.events.groups?.sender ?? {})).toEqual([bob.userId]);
    expect(r.events.state?.[room]?.length).toBeGreaterThan(0);
  });

  it("never finds events of a room the user is not in, nor ones before they could read", async () => {
    const r = await search(t, eve, { search_term: "fox" });
    expect(r.status).toBe(200);
    expect(r.events.results).toEqual([]);
    expect(r.events.count).toBe(0);
    const asked = await search(t, eve, { search_term: "fox", filter: { rooms: [room] } });
    expect(asked.events.results).toEqual([]);
    // A room whose history is visible from joining on: what was said before eve joined stays hidden.
    const later = await createRoom(t, alice, { preset: "public_chat" });
    await state(t, alice, later, "m.room.history_visibility", { history_visibility: "joined" });
    await send(t, alice, later, "secret platypus before");
    await searchUntil(t, alice, "platypus", 1);
    await join(t, eve, later);
    await send(t, alice, later, "public platypus after");
    await searchUntil(t, alice, "platypus", 2);
    const seen = await search(t, eve, { search_term: "platypus" });
    expect(seen.events.results.map((x) => (x.result.content as { body: string }).body)).toEqual([
      "public platypus after",
    ]);
    // Not even the count tells of what was said before.
    expect(seen.events.count).toBe(1);
  });

  it("never indexes an encrypted room: dropped once it becomes encrypted, nothing after", async () => {
    const r = await createRoom(t, alice, { preset: "private_chat" });
    await send(t, alice, r, "walrus before encryption");
    await searchUntil(t, alice, "walrus", 1);
    await state(t, alice, r, "m.room.encryption", { algorithm: "m.megolm.v1.aes-sha2" });
    await waitFor(
      "walrus dropped",
      async () => (await search(t, alice, { search_term: "walrus" })).events.count === 0,
    );
    await send(t, alice, r, "walrus in plaintext after encryption");
    await send(t, alice, r, "walrus ciphertext", "m.room.encrypted");
    // A later plain room's message proves the consumer has gone past them.
    const plain = await createRoom(t, alice, {});
    await send(t, alice, plain, "walrus elsewhere");
    await searchUntil(t, alice, "walrus", 1);
    const rows = await t.search!.service.searchRoomEvents({
      term: "walrus",
      roomIds: [r],
      orderBy: "recent",
      limit: 10,
    });
    expect(rows.count).toBe(0);
  });

  it("a redacted event leaves the index", async () => {
    const id = await send(t, alice, room, "ephemeral narwhal");
    await searchUntil(t, alice, "narwhal", 1);
    const red = await t.call(
      "PUT",
      `/_matrix/client/v3/rooms/${encodeURIComponent(room)}/redact/${encodeURIComponent(id)}/r1`,
      { token: alice.accessToken, body: {} },
    );
    expect(red.status).toBe(200);
    await searchUntil(t, alice, "narwhal", 0);
    await waitFor("narwhal gone from the read model", async () => {
      const raw = await t.search!.service.searchRoomEvents({
        term: "narwhal",
        roomIds: [room],
        orderBy: "rank",
        limit: 5,
      });
      return raw.count === 0;
    });
  });

  it("searches only the keys asked for, and hides senders the user ignores", async () => {
    const named = await createRoom(t, alice, { name: "Capybara Corner", invite: [bob.userId] });
    await join(t, bob, named);
    await send(t, alice, named, "capybara sighting");
    await searchUntil(t, bob, "capybara", 2);
    const byName = await search(t, bob, { search_term: "capybara", keys: ["content.name"] });
    expect(byName.events.results.map((x) => x.result.type)).toEqual(["m.room.name"]);
    const byBody = await search(t, bob, { search_term: "capybara", keys: ["content.body"] });
    expect(byBody.events.results.map((x) => x.result.type)).toEqual(["m.room.message"]);
    const ignore = await t.call(
      "PUT",
      `/_matrix/client/v3/user/${encodeURIComponent(bob.userId)}/account_data/m.ignored_user_list`,
      { token: bob.accessToken, body: { ignored_users: { [alice.userId]: {} } } },
    );
    expect(ignore.status).toBe(200);
    const ignored = await search(t, bob, { search_term: "capybara", keys: ["content.body"] });
    expect(ignored.events.results).toEqual([]);
    expect(ignored.events.count).toBe(0);
    await t.call(
      "PUT",
      `/_matrix/client/v3/user/${encodeURIComponent(bob.userId)}/account_data/m.ignored_user_list`,
      { token: bob.accessToken, body: { ignored_users: {} } },
    );
  });

  it("a room asked for in filter.rooms brings the rooms it was upgraded from", async () => {
    const old = await createRoom(t, alice, {});
    await send(t, alice, old, "ancient axolotl");
    await searchUntil(t, alice, "axolotl", 1);
    const up = await t.call("POST", `/_matrix/client/v3/rooms/${encodeURIComponent(old)}/upgrade`, {
      token: alice.accessToken,
      body: { new_version: "10" },
    });
    expect(up.status).toBe(200);
    const replacement = up.body.replacement_room as string;
    await send(t, alice, replacement, "modern axolotl");
    const both = await searchUntil(t, alice, "axolotl", 2, { filter: { rooms: [replacement] } });
    expect(new Set(both.results.map((x) => x.result.room_id))).toEqual(new Set([old, replacement]));
  });

  it("refuses bad input with 400s, never a 500", async () => {
    const cases: unknown[] = [
      { search_categories: { room_events: { search_term: "" } } },
      { search_categories: { room_events: { search_term: "   " } } },
      { search_categories: { room_events: { search_term: "a\u0000b" } } },
      { search_categories: { room_events: { search_term: "x".repeat(10_000) } } },
      { search_categories: { room_events: { search_term: 42 } } },
      { search_categories: { room_events: { search_term: "fox", order_by: "best" } } },
      { search_categories: { room_events: { search_term: "fox", keys: ["content.nope"] } } },
      { search_categories: { room_events: { search_term: "fox", filter: { limit: -1 } } } },
      { search_categories: "nope" },
      {},
    ];
    for (const body of cases) {
      const r = await t.call("POST", "/_matrix/client/v3/search", { token: alice.accessToken, body });
      expect(r.status, JSON.stringify(body).slice(0, 80)).toBe(400);
      expect(typeof r.body.errcode).toBe("string");
    }
    const bad = await t.call("POST", "/_matrix/client/v3/search?next_batch=%%%garbage", {
      token: alice.accessToken,
      body: { search_categories: { room_events: { search_term: "fox" } } },
    });
    expect(bad.status).toBe(400);
    const weird = await search(t, alice, { search_term: `"unbalanced -or | & ! ( :*` });
    expect(weird.status).toBe(200);
    const stopWords = await search(t, alice, { search_term: "the and of" });
    expect(stopWords.status).toBe(200);
    expect(stopWords.events.count).toBe(0);
    const noCategory = await t.call("POST", "/_matrix/client/v3/search", {
      token: alice.accessToken,
      body: { search_categories: {} },
    });
    expect(noCategory.status).toBe(200);
    const anon = await t.call("POST", "/_matrix/client/v3/search", {
      body: { search_categories: { room_events: { search_term: "fox" } } },
    });
    expect(anon.status).toBe(401);
  });
});
