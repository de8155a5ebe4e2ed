import type { Kysely } from "kysely";
import { sql } from "kysely";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { indexStoredRelations } from "../../migrations/messaging/0800_relations.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { slideOk } from "../sliding/helpers.ts";

/** Relations, threads and server-side aggregations (spec "Forming relationships between events"). */
type Who = { userId: string; deviceId: string; accessToken: string };
type Ev = {
  event_id: string;
  type: string;
  sender: string;
  content: Record<string, unknown>;
  unsigned: Record<string, unknown>;
};

const V3 = "/_matrix/client/v3";
const V1 = "/_matrix/client/v1";
let server: TestServer;
let alice: Who;
let bob: Who;
let txn = 0;

const createRoom = async (who: Who, body: Record<string, unknown> = { preset: "public_chat" }) => {
  const r = await server.call("POST", `${V3}/createRoom`, { token: who.accessToken, body });
  expect(r.status).toBe(200);
  return r.body.room_id as string;
};
const sendRaw = (
  who: Who,
  roomId: string,
  type: string,
  content: Record<string, unknown>,
  txnId = `t${++txn}`,
) =>
  server.call("PUT", `${V3}/rooms/${roomId}/send/${type}/${txnId}`, {
    token: who.accessToken,
    body: content,
  });
const send = async (who: Who, roomId: string, type: string, content: Record<string, unknown>) => {
  const r = await sendRaw(who, roomId, type, content);
  expect(r.status, JSON.stringify(r.body)).toBe(200);
  return r.body.event_id as string;
};
const text = (who: Who, roomId: string, body: string) =>
  send(who, roomId, "m.room.message", { msgtype: "m.text", body });
const reply = (who: Who, roomId: string, root: string, body: string) =>
  send(who, roomId, "m.room.message", {
    msgtype: "m.text",
    body,
    "m.relates_to": { rel_type: "m.thread", event_id: root },
  });
const edit = (who: Who, roomId: string, target: string, body: string, type = "m.room.message") =>
  send(who, roomId, type, {
    msgtype: "m.text",
    body: `* ${body}`,
    "m.new_content": { msgtype: "m.text", body },
    "m.relates_to": { rel_type: "m.replace", event_id: target },
  });
const react = (who: Who, roomId: string, target: string, key: string) =>
  sendRaw(who, roomId, "m.reaction", { "m.relates_to": { rel_type: "m.annotation", event_id: target, key } });
const relations = (who: Who, roomId: string, eventId: string, suffix = "", q = "") =>
  server.call(
    "GET",
    `${V1}/rooms/${roomId}/relations/${encodeURIComponent(eventId)}${suffix}${q ? `?${q}` : ""}`,
    {
      token: who.accessToken,
    },
  );
const ids = (body: Record<string, unknown>) => (body.chunk as Ev[]).map((e) => e.event_id);
const getEvent = async (who: Who, roomId: string, eventId: string) => {
  const r = await server.call("GET", `${V3}/rooms/${roomId}/event/${encodeURIComponent(eventId)}`, {
    token: who.accessToken,
  });
  expect(r.status).toBe(200);
  return r.body as unknown as Ev;
};
const editOf = (e: Ev) => (rels(e)?.["m.replace"] as unknown as Ev | undefined)?.event_id;
const rels = (e: Ev) => e.unsigned["m.relations"] as Record<string, Record<string, unknown>> | undefined;

beforeAll(async () => {
  server = await startTestServer();
  alice = await server.register();
  bob = await server.register();
});
afterAll(async () => {
  await server?.close();
});

describe("GET /relations", () => {
  let room: string;
  let parent: string;
  const children: string[] = [];
  let annotation: string;

  beforeAll(async () => {
    room = await createRoom(alice);
    expect(
      (await server.call("POST", `${V3}/join/${room}`, { token: bob.accessToken, body: {} })).status,
    ).toBe(200);
    parent = await text(alice, room, "parent");
    for (let i = 0; i < 4; i++) children.push(await reply(i % 2 ? bob : alice, room, parent, `reply ${i}`));
    const r = await react(bob, room, parent, "👍");
    expect(r.status).toBe(200);
    annotation = r.body.event_id as string;
  });

  it("pages backwards (default) and forwards through every relation", async () => {
    const all = [...children, annotation];
    const b1 = await relations(alice, room, parent, "", "limit=3");
    expect(b1.status).toBe(200);
    expect(ids(b1.body)).toEqual(all.slice().reverse().slice(0, 3));
    expect(b1.body.next_batch).toEqual(expect.any(String));
    expect(b1.body.recursion_depth).toBeUndefined();
    const b2 = await relations(alice, room, parent, "", `limit=3&from=${b1.body.next_batch}`);
    expect(ids(b2.body)).toEqual(all.slice().reverse().slice(3));
    expect(b2.body.next_batch).toBeUndefined();
    expect(b2.body.prev_batch).toBe(b1.body.next_batch);

    const f1 = await relations(alice, room, parent, "", "dir=f&limit=2");
    expect(ids(f1.body)).toEqual(all.slice(0, 2));
    const f2 = await relations(alice, room, parent, "", `dir=f&limit=10&from=${f1.body.next_batch}`);
    expect(ids(f2.body)).toEqual(all.slice(2));
    expect(f2.body.next_batch).toBeUndefined();
  });

  it("filters by rel_type and by event type", async () => {
    const threads = await relations(alice, room, parent, "/m.thread", "limit=50");
    expect(ids(threads.body).sort()).toEqual([...children].sort());
    const reactions = await relations(alice, room, parent, "/m.annotation/m.reaction");
    expect(ids(reactions.body)).toEqual([annotation]);
    const none = await relations(alice, room, parent, "/m.annotation/m.room.message");
    expect(ids(none.body)).toEqual([]);
  });

  it("recurses into relations of relations when asked", async () => {
    const ref = await send(alice, room, "m.room.message", {
      msgtype: "m.text",
      body: "ref",
      "m.relates_to": { rel_type: "m.reference", event_id: children[0] },
    });
    const flat = await relations(alice, room, parent, "", "limit=50");
    expect(ids(flat.body)).not.toContain(ref);
    const deep = await relations(alice, room, parent, "", "limit=50&recurse=true");
    expect(deep.status).toBe(200);
    expect(ids(deep.body)).toContain(ref);
    expect(deep.body.recursion_depth).toBe(3);
    const deepRefs = await relations(alice, room, parent, "/m.reference", "recurse=true");
    expect(ids(deepRefs.body)).toEqual([ref]);
  });

  it("refuses bad parameters, outsiders and unknown parents", async () => {
    expect((await relations(alice, room, parent, "", "dir=x")).status).toBe(400);
    expect((await relations(alice, room, parent, "", "from=nope")).status).toBe(400);
    const carol = await server.register();
    const privateRoom = await createRoom(alice, { preset: "private_chat" });
    const secret = await text(alice, privateRoom, "secret");
    const outsider = await relations(carol, privateRoom, secret);
    expect(outsider.status).toBe(403);
    const unknown = await relations(alice, room, "$nope:localhost");
    expect(unknown.status).toBe(404);
  });

  it("hides relations a late joiner may not see under history_visibility=joined", async () => {
    const r = await createRoom(alice, {
      preset: "public_chat",
      initial_state: [
        { type: "m.room.history_visibility", state_key: "", content: { history_visibility: "joined" } },
      ],
    });
    const root = await text(alice, r, "root");
    const before = await reply(alice, r, root, "before");
    const carol = await server.register();
    expect(
      (await server.call("POST", `${V3}/join/${r}`, { token: carol.accessToken, body: {} })).status,
    ).toBe(200);
    const after = await reply(alice, r, root, "after");
    // The root predates carol's join: she cannot see it, so not its relations either.
    expect((await relations(carol, r, root)).status).toBe(404);
    const mine = await relations(alice, r, root);
    expect(ids(mine.body)).toEqual([after, before]);
    // A parent she can see, with relations from before and after her join.
    const other = await createRoom(alice, {
      preset: "public_chat",
      initial_state: [
        { type: "m.room.history_visibility", state_key: "", content: { history_visibility: "joined" } },
      ],
    });
    const dave = await server.register();
    expect(
      (await server.call("POST", `${V3}/join/${other}`, { token: dave.accessToken, body: {} })).status,
    ).toBe(200);
    const p = await text(alice, other, "p");
    await server.call("POST", `${V3}/rooms/${other}/leave`, { token: dave.accessToken, body: {} });
    const hidden = await reply(alice, other, p, "while dave was away");
    expect(
      (await server.call("POST", `${V3}/join/${other}`, { token: dave.accessToken, body: {} })).status,
    ).toBe(200);
    const seen = await reply(alice, other, p, "after dave came back");
    const daves = await relations(dave, other, p);
    expect(daves.status).toBe(200);
    expect(ids(daves.body)).toEqual([seen]);
    expect(ids((await relations(alice, other, p)).body)).toEqual([seen, hidden]);
  });
});

describe("sending relations", () => {
  let room: string;
  beforeAll(async () => {
    room = await createRoom(alice);
    await server.call("POST", `${V3}/join/${room}`, { token: bob.accessToken, body: {} });
  });

  it("refuses a duplicate annotation with M_DUPLICATE_ANNOTATION, but not a retried send", async () => {
    const target = await text(alice, room, "react to me");
    const first = await react(bob, room, target, "🎉");
    expect(first.status).toBe(200);
    const again = await react(bob, room, target, "🎉");
    expect(again.status).toBe(400);
    expect(again.body.errcode).toBe("M_DUPLICATE_ANNOTATION");
    // Another key, or another sender, is fine.
    expect((await react(bob, room, target, "🚀")).status).toBe(200);
    expect((await react(alice, room, target, "🎉")).status).toBe(200);
    // The same transaction again is the same event, not a duplicate.
    const retried = await sendRaw(
      alice,
      room,
      "m.reaction",
      {
        "m.relates_to": { rel_type: "m.annotation", event_id: target, key: "✅" },
      },
      "retry-1",
    );
    const retriedAgain = await sendRaw(
      alice,
      room,
      "m.reaction",
      {
        "m.relates_to": { rel_type: "m.annotation", event_id: target, key: "✅" },
      },
      "retry-1",
    );
    expect(retriedAgain.status).toBe(200);
    expect(retriedAgain.body.event_id).toBe(retried.body.event_id);
    // Once redacted, the reaction can be sent again.
    const red = await server.call(
      "PUT",
      `${V3}/rooms/${room}/redact/${encodeURIComponent(first.body.event_id as string)}/r1`,
      {
        token: bob.accessToken,
        body: {},
      },
    );
    expect(red.status).toBe(200);
    expect((await react(bob, room, target, "🎉")).status).toBe(200);
  });

  it("refuses relations to other rooms' or unknown events, and threads off relations", async () => {
    const other = await createRoom(alice);
    const elsewhere = await text(alice, other, "elsewhere");
    const cross = await sendRaw(alice, room, "m.reaction", {
      "m.relates_to": { rel_type: "m.annotation", event_id: elsewhere, key: "x" },
    });
    expect(cross.status).toBe(400);
    const unknown = await sendRaw(alice, room, "m.reaction", {
      "m.relates_to": { rel_type: "m.annotation", event_id: "$missing:localhost", key: "x" },
    });
    expect(unknown.status).toBe(400);
    const noKey = await sendRaw(alice, room, "m.reaction", {
      "m.relates_to": { rel_type: "m.annotation", event_id: elsewhere },
    });
    expect(noKey.status).toBe(400);
    const root = await text(alice, room, "root");
    const inThread = await reply(alice, room, root, "in thread");
    const nested = await sendRaw(alice, room, "m.room.message", {
      msgtype: "m.text",
      body: "thread off a thread reply",
      "m.relates_to": { rel_type: "m.thread", event_id: inThread },
    });
    expect(nested.status).toBe(400);
  });
});

describe("aggregations", () => {
  let room: string;
  let root: string;
  let lastReply: string;
  let ref: string;
  let original: string;
  let goodEdit: string;
  let replyEdit: string;

  beforeAll(async () => {
    room = await createRoom(alice);
    await server.call("POST", `${V3}/join/${room}`, { token: bob.accessToken, body: {} });
    root = await text(alice, room, "root");
    await reply(alice, room, root, "one");
    lastReply = await reply(alice, room, root, "two");
    ref = await send(bob, room, "m.room.message", {
      msgtype: "m.text",
      body: "see above",
      "m.relates_to": { rel_type: "m.reference", event_id: root },
    });
    original = await text(alice, room, "tpyo");
    await edit(alice, room, original, "first fix");
    goodEdit = await edit(alice, room, original, "typo");
    // Invalid edits: another sender, another type, no m.new_content; none may win.
    await edit(bob, room, original, "bob's takeover");
    await edit(alice, room, original, "other type", "m.custom");
    await send(alice, room, "m.room.message", {
      msgtype: "m.text",
      body: "* no new content",
      "m.relates_to": { rel_type: "m.replace", event_id: original },
    });
    await react(bob, room, original, "👀");
  });

  const checkRoot = (e: Ev | undefined, viewer: Who) => {
    expect(e).toBeDefined();
    const thread = rels(e!)?.["m.thread"];
    expect(thread).toBeDefined();
    expect(thread!.count).toBe(2);
    expect((thread!.latest_event as Ev).event_id).toBe(lastReply);
    expect(thread!.current_user_participated).toBe(viewer === alice);
    expect(rels(e!)?.["m.reference"]).toEqual({ chunk: [{ event_id: ref }] });
  };
  const checkEdited = (e: Ev | undefined) => {
    expect(e).toBeDefined();
    const replace = rels(e!)?.["m.replace"] as unknown as Ev;
    expect(replace.event_id).toBe(goodEdit);
    expect(replace.content["m.new_content"]).toEqual({ msgtype: "m.text", body: "typo" });
    // The server no longer applies the edit (spec v1.7): the original content is served.
    expect(e!.content.body).toBe("tpyo");
    // Annotations are not aggregated server-side.
    expect(rels(e!)?.["m.annotation"]).toBeUndefined();
  };

  it("bundles m.thread, m.reference and m.replace in /event", async () => {
    checkRoot(await getEvent(alice, room, root), alice);
    checkRoot(await getEvent(bob, room, root), bob);
    checkEdited(await getEvent(alice, room, original));
    const plain = await getEvent(alice, room, goodEdit);
    expect(rels(plain)).toBeUndefined();
  });

  it("bundles them in /messages, /context and /relations", async () => {
    const m = await server.call("GET", `${V3}/rooms/${room}/messages?dir=b&limit=50`, {
      token: bob.accessToken,
    });
    const chunk = m.body.chunk as Ev[];
    checkRoot(
      chunk.find((e) => e.event_id === root),
      bob,
    );
    checkEdited(chunk.find((e) => e.event_id === original));
    const c = await server.call(
      "GET",
      `${V3}/rooms/${room}/context/${encodeURIComponent(original)}?limit=20`,
      {
        token: alice.accessToken,
      },
    );
    checkEdited(c.body.event as Ev);
    checkRoot(
      (c.body.events_before as Ev[]).find((e) => e.event_id === root),
      alice,
    );
    // /relations bundles its events' own aggregations: the thread reply that was edited shows it.
    replyEdit = await edit(alice, room, lastReply, "two (edited)");
    const r = await relations(alice, room, root, "/m.thread");
    const served = (r.body.chunk as Ev[]).find((e) => e.event_id === lastReply);
    expect(served && editOf(served)).toBe(replyEdit);
  });

  it("bundles them in /sync, initial and incremental", async () => {
    const first = await server.call(
      "GET",
      `${V3}/sync?filter=${encodeURIComponent(JSON.stringify({ room: { timeline: { limit: 50 } } }))}`,
      {
        token: alice.accessToken,
      },
    );
    const timeline = (first.body.rooms as Record<string, Record<string, { timeline: { events: Ev[] } }>>)
      .join[room]!.timeline.events;
    checkRoot(
      timeline.find((e) => e.event_id === root),
      alice,
    );
    // The thread's latest event carries its own edit.
    const latest = rels(timeline.find((e) => e.event_id === root)!)?.["m.thread"]?.latest_event as Ev;
    expect(editOf(latest)).toBe(replyEdit);
    checkEdited(timeline.find((e) => e.event_id === original));
    // A new reply in the thread: an incremental sync carries it; a new plain message needs no query.
    const newer = await text(alice, room, "unrelated");
    const next = await server.call("GET", `${V3}/sync?since=${first.body.next_batch}&timeout=0`, {
      token: alice.accessToken,
    });
    const delta = (next.body.rooms as Record<string, Record<string, { timeline: { events: Ev[] } }>>).join[
      room
    ]!.timeline.events;
    expect(delta.map((e) => e.event_id)).toEqual([newer]);
    expect(rels(delta[0]!)).toBeUndefined();
  });

  it("bundles them in sliding sync timelines", async () => {
    const body = {
      conn_id: "relations",
      room_subscriptions: { [room]: { timeline_limit: 50, required_state: [] } },
    };
    const r = await slideOk(server, bob, body);
    const timeline = r.rooms[room]!.timeline as unknown as Ev[];
    checkRoot(
      timeline.find((e) => e.event_id === root),
      bob,
    );
    checkEdited(timeline.find((e) => e.event_id === original));
  });

  it("drops a redacted relation from the aggregations", async () => {
    const target = await text(alice, room, "to be edited");
    const e1 = await edit(alice, room, target, "v1");
    const e2 = await edit(alice, room, target, "v2");
    expect(editOf(await getEvent(alice, room, target))).toBe(e2);
    const red = await server.call("PUT", `${V3}/rooms/${room}/redact/${encodeURIComponent(e2)}/red-e2`, {
      token: alice.accessToken,
      body: {},
    });
    expect(red.status).toBe(200);
    expect(editOf(await getEvent(alice, room, target))).toBe(e1);
    const threadRoot = await text(alice, room, "short thread");
    const only = await reply(bob, room, threadRoot, "only reply");
    expect(rels(await getEvent(alice, room, threadRoot))?.["m.thread"]?.count).toBe(1);
    await server.call("PUT", `${V3}/rooms/${room}/redact/${encodeURIComponent(only)}/red-only`, {
      token: bob.accessToken,
      body: {},
    });
    expect(rels(await getEvent(alice, room, threadRoot))).toBeUndefined();
    expect(ids((await relations(alice, room, threadRoot)).body)).toEqual([]);
  });
});

describe("ignored users", () => {
  it("leaves their thread replies and references out of the aggregations", async () => {
    const room = await createRoom(alice);
    const carol = await server.register();
    const erin = await server.register();
    for (const who of [carol, erin])
      await server.call("POST", `${V3}/join/${room}`, { token: who.accessToken, body: {} });
    const root = await text(alice, room, "root");
    await reply(alice, room, root, "from alice");
    await reply(carol, room, root, "from carol");
    await send(carol, room, "m.room.message", {
      msgtype: "m.text",
      body: "ref",
      "m.relates_to": { rel_type: "m.reference", event_id: root },
    });
    const ignore = await server.call(
      "PUT",
      `${V3}/user/${encodeURIComponent(erin.userId)}/account_data/m.ignored_user_list`,
      { token: erin.accessToken, body: { ignored_users: { [carol.userId]: {} } } },
    );
    expect(ignore.status).toBe(200);
    const seen = rels(await getEvent(erin, room, root));
    expect(seen?.["m.thread"]?.count).toBe(1);
    expect((seen?.["m.thread"]?.latest_event as Ev | undefined)?.sender).toBe(alice.userId);
    expect(seen?.["m.reference"]).toBeUndefined();
    expect(rels(await getEvent(alice, room, root))?.["m.thread"]?.count).toBe(2);
  });
});

describe("GET /threads", () => {
  it("lists thread roots by latest activity, all or participated, with pagination", async () => {
    const room = await createRoom(alice);
    await server.call("POST", `${V3}/join/${room}`, { token: bob.accessToken, body: {} });
    const a = await text(alice, room, "a");
    const b = await text(bob, room, "b");
    const c = await text(bob, room, "c");
    await reply(alice, room, a, "a1");
    await reply(bob, room, b, "b1");
    await reply(bob, room, c, "c1");
    await reply(bob, room, a, "a2"); // a is now the most recently active
    const threads = (who: Who, q: string) =>
      server.call("GET", `${V1}/rooms/${room}/threads?${q}`, { token: who.accessToken });

    const all = await threads(alice, "limit=2");
    expect(all.status).toBe(200);
    expect(ids(all.body)).toEqual([a, c]);
    const summary = rels((all.body.chunk as Ev[])[0]!)?.["m.thread"];
    expect(summary?.count).toBe(2);
    expect(summary?.current_user_participated).toBe(true);
    expect(all.body.next_batch).toEqual(expect.any(String));
    const rest = await threads(alice, `limit=2&from=${all.body.next_batch}`);
    expect(ids(rest.body)).toEqual([b]);
    expect(rest.body.next_batch).toBeUndefined();

    // alice started a; she took part in nothing else.
    expect(ids((await threads(alice, "include=participated")).body)).toEqual([a]);
    expect(ids((await threads(bob, "include=participated")).body)).toEqual([a, c, b]);
    expect((await threads(alice, "include=some")).status).toBe(400);
    const carol = await server.register();
    const privateRoom = await createRoom(alice, { preset: "private_chat" });
    const denied = await server.call("GET", `${V1}/rooms/${privateRoom}/threads`, {
      token: carol.accessToken,
    });
    expect(denied.status).toBe(403);
  });
});

describe("migration", () => {
  it("indexes the relations of events stored before message_relations existed", async () => {
    const room = await createRoom(alice);
    const root = await text(alice, room, "old root");
    const old = await reply(alice, room, root, "old reply");
    const db = server.ctx.databases.get("messaging").db as Kysely<unknown>;
    await sql`DELETE FROM message_relations WHERE relates_to = ${root}`.execute(db);
    expect(ids((await relations(alice, room, root)).body)).toEqual([]);
    await indexStoredRelations(db);
    await indexStoredRelations(db);
    expect(ids((await relations(alice, room, root)).body)).toEqual([old]);
  });
});
