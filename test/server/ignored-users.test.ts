import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestServer, type TestServer } from "../helpers/server.ts";

/** m.ignored_user_list: an ignored user's messages and invites are not delivered (spec "Ignoring Users"). */
let server: TestServer;
let alice: { userId: string; accessToken: string };
let bob: { userId: string; accessToken: string };
let carol: { userId: string; accessToken: string };

type Sync = {
  next_batch: string;
  rooms?: {
    join?: Record<
      string,
      { timeline: { events: { type: string; sender: string; content: Record<string, unknown> }[] } }
    >;
    invite?: Record<string, unknown>;
  };
};
const sync = async (token: string, since?: string): Promise<Sync> =>
  (await server.call("GET", `/_matrix/client/v3/sync?timeout=0${since ? `&since=${since}` : ""}`, { token }))
    .body as Sync;
const say = (token: string, roomId: string, body: string, txn: string) =>
  server.call("PUT", `/_matrix/client/v3/rooms/${roomId}/send/m.room.message/${txn}`, {
    token,
    body: { msgtype: "m.text", body },
  });
const ignore = (users: string[]) =>
  server.call(
    "PUT",
    `/_matrix/client/v3/user/${encodeURIComponent(alice.userId)}/account_data/m.ignored_user_list`,
    {
      token: alice.accessToken,
      body: { ignored_users: Object.fromEntries(users.map((u) => [u, {}])) },
    },
  );

beforeAll(async () => {
  server = await startTestServer();
  alice = await server.register();
  bob = await server.register();
  carol = await server.register();
});
afterAll(async () => {
  await server?.close();
});

describe("ignored users", () => {
  it("withholds an ignored user's messages from sync and /messages, but not the room's state", async () => {
    const room = (
      await server.call("POST", "/_matrix/client/v3/createRoom", {
        token: alice.accessToken,
        body: { preset: "public_chat" },
      })
    ).body.room_id as string;
    for (const u of [bob, carol])
      await server.call("POST", `/_matrix/client/v3/join/${room}`, { token: u.accessToken, body: {} });
    expect((await ignore([bob.userId])).status).toBe(200);
    const before = await sync(alice.accessToken);
    await say(bob.accessToken, room, "from bob", "b1");
    await say(carol.accessToken, room, "from carol", "c1");
    const after = await sync(alice.accessToken, before.next_batch);
    const bodies = after.rooms?.join?.[room]?.timeline.events
      .filter((e) => e.type === "m.room.message")
      .map((e) => e.content.body);
    expect(bodies).toEqual(["from carol"]);
    const initial = await sync(alice.accessToken);
    const events = initial.rooms?.join?.[room]?.timeline.events ?? [];
    expect(events.some((e) => e.type === "m.room.member" && e.sender === bob.userId)).toBe(true);
    expect(events.some((e) => e.type === "m.room.message" && e.sender === bob.userId)).toBe(false);
    const page = await server.call("GET", `/_matrix/client/v3/rooms/${room}/messages?dir=b&limit=50`, {
      token: alice.accessToken,
    });
    const senders = (page.body.chunk as { type: string; sender: string }[])
      .filter((e) => e.type === "m.room.message")
      .map((e) => e.sender);
    expect(senders).toEqual([carol.userId]);
    // Bob still sees his own message; un-ignoring brings him back.
    await ignore([]);
    const back = await server.call("GET", `/_matrix/client/v3/rooms/${room}/messages?dir=b&limit=50`, {
      token: alice.accessToken,
    });
    expect(
      (back.body.chunk as { sender: string; type: string }[]).filter((e) => e.type === "m.room.message"),
    ).toHaveLength(2);
  });

  it("does not deliver an invite from an ignored user, in full or incremental sync", async () => {
    await ignore([bob.userId]);
    const before = await sync(alice.accessToken);
    const room = (
      await server.call("POST", "/_matrix/client/v3/createRoom", {
        token: bob.accessToken,
        body: { invite: [alice.userId] },
      })
    ).body.room_id as string;
    const carolRoom = (
      await server.call("POST", "/_matrix/client/v3/createRoom", {
        token: carol.accessToken,
        body: { invite: [alice.userId] },
      })
    ).body.room_id as string;
    const inc = await sync(alice.accessToken, before.next_batch);
    expect(Object.keys(inc.rooms?.invite ?? {})).toEqual([carolRoom]);
    const full = await sync(alice.accessToken);
    expect(Object.keys(full.rooms?.invite ?? {})).not.toContain(room);
    expect(Object.keys(full.rooms?.invite ?? {})).toContain(carolRoom);
  });
});
