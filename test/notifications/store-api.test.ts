import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { unreadRoomCount } from "../../companion-services/notifications/service.ts";
import {
  addPusher,
  type NotificationsEnv,
  notificationsEnv,
  queue,
  record,
  roomEvent,
  wipe,
} from "./helpers.ts";

const ALICE = "@alice:test";
const ROOM = "!room:test";
const TOKEN = "alice.A1";

describe("GET /notifications and Nova's in-app notifications API", () => {
  let t: NotificationsEnv;
  beforeAll(async () => {
    t = await notificationsEnv();
  });
  afterAll(() => t.close());
  beforeEach(() => wipe(t.db));

  const get = async (path: string, token = TOKEN) => t.call("GET", path, token);
  const events = (n: number, highlightEvery = 0) =>
    t.rooms.handleBatch(
      Array.from({ length: n }, (_, i) =>
        roomEvent({
          event_id: `$e${i + 1}`,
          stream_position: i + 1,
          recipients: [
            {
              user_id: ALICE,
              actions:
                highlightEvery && (i + 1) % highlightEvery === 0
                  ? ["notify", { set_tweak: "highlight" }]
                  : ["notify"],
              highlight: highlightEvery > 0 && (i + 1) % highlightEvery === 0,
            },
          ],
        }),
      ),
    );
  /** A social notification, as the social services' consumers will call notify(). */
  const social = (kind: "follows" | "likes", key: string) =>
    t.db.transaction().execute((trx) =>
      t.service.notify(trx, {
        userId: ALICE,
        kind,
        sourceEventId: randomUUID(),
        dedupKey: key,
        body: { actor: "@bob:test", key },
        push: false,
      }),
    );

  it("/notifications: newest first, in client format, with actions, read flag, ts and profile_tag", async () => {
    await events(2);
    const r = await get("/_matrix/client/v3/notifications");
    expect(r.status).toBe(200);
    const list = r.body.notifications as Record<string, unknown>[];
    expect(list.map((n) => (n.event as { event_id: string }).event_id)).toEqual(["$e2", "$e1"]);
    expect(list[0]).toEqual({
      actions: ["notify"],
      event: {
        content: { msgtype: "m.text", body: "message 2" },
        event_id: "$e2",
        origin_server_ts: 1_700_000_000_002,
        room_id: ROOM,
        sender: "@bob:test",
        type: "m.room.message",
        unsigned: {},
      },
      profile_tag: null,
      read: false,
      room_id: ROOM,
      ts: expect.any(Number),
    });
    expect(r.body.next_token).toBeUndefined();
  });

  it("/notifications paginates with an opaque token, leaving next_token out on the last page", async () => {
    await events(5);
    const seen: string[] = [];
    let from: string | undefined;
    for (let page = 0; page < 5; page++) {
      const r = await get(`/_matrix/client/v3/notifications?limit=2${from ? `&from=${from}` : ""}`);
      const list = r.body.notifications as { event: { event_id: string } }[];
      seen.push(...list.map((n) => n.event.event_id));
      from = r.body.next_token as string | undefined;
      if (!from) break;
    }
    expect(seen).toEqual(["$e5", "$e4", "$e3", "$e2", "$e1"]);
    expect(from).toBeUndefined();
  });

  it("/notifications?only=highlight returns highlights only", async () => {
    await events(6, 3);
    const r = await get("/_matrix/client/v3/notifications?only=highlight");
    const list = r.body.notifications as { event: { event_id: string }; actions: unknown[] }[];
    expect(list.map((n) => n.event.event_id)).toEqual(["$e6", "$e3"]);
    expect(list[0]?.actions).toEqual(["notify", { set_tweak: "highlight" }]);
  });

  it("after a receipt, plain notifications leave the list and read highlights stay marked read", async () => {
    await events(3, 3);
    await t.rooms.handleBatch([
      record("room", ROOM, "room.receipt_moved", {
        room_id: ROOM,
        user_id: ALICE,
        event_id: "$e3",
        receipt_type: "m.read",
        thread_id: "",
        stream_position: 3,
      }),
    ]);
    const list = (await get("/_matrix/client/v3/notifications")).body.notifications as {
      event: { event_id: string };
      read: boolean;
    }[];
    expect(list.map((n) => [n.event.event_id, n.read])).toEqual([["$e3", true]]);
  });

  it("/notifications lists room events only, and only the caller's", async () => {
    await events(1);
    await social("follows", "f1");
    const list = (await get("/_matrix/client/v3/notifications")).body.notifications as unknown[];
    expect(list).toHaveLength(1);
    expect((await get("/_matrix/client/v3/notifications", "bob.B1")).body.notifications).toEqual([]);
  });

  it.each(["from=abc", "from=-1", "from=1.5", "limit=ten", "limit=-5", "only=everything"])(
    "/notifications?%s is 400 M_INVALID_PARAM",
    async (q) => {
      const r = await get(`/_matrix/client/v3/notifications?${q}`);
      expect([r.status, r.body.errcode]).toEqual([400, "M_INVALID_PARAM"]);
    },
  );

  it("/notifications clamps limit instead of failing on large or zero values", async () => {
    await events(3);
    expect(
      ((await get("/_matrix/client/v3/notifications?limit=100000")).body.notifications as []).length,
    ).toBe(3);
    const one = await get("/_matrix/client/v3/notifications?limit=0");
    expect((one.body.notifications as []).length).toBe(1);
  });

  it("in-app list: every kind, newest first, cursor pagination, unread_only", async () => {
    await events(2);
    await social("follows", "f1");
    await social("likes", "l1");
    const first = await get("/_nova/v1/notifications?limit=3");
    const items = first.body.notifications as Record<string, unknown>[];
    expect(items.map((n) => n.kind)).toEqual(["likes", "follows", "messages"]);
    expect(items[0]).toEqual({
      id: expect.any(String),
      kind: "likes",
      body: { actor: "@bob:test", key: "l1" },
      read: false,
      created_at: expect.any(Number),
    });
    expect(items[2]).toMatchObject({ room_id: ROOM, event_id: "$e2", read: false });
    const next = await get(`/_nova/v1/notifications?limit=3&from=${first.body.next_batch as string}`);
    expect((next.body.notifications as { event_id: string }[]).map((n) => n.event_id)).toEqual(["$e1"]);
    expect(next.body.next_batch).toBeUndefined();

    await t.call("POST", "/_nova/v1/notifications/read", TOKEN, { ids: [items[0]!.id] });
    const unread = await get("/_nova/v1/notifications?unread_only=true");
    expect((unread.body.notifications as { kind: string }[]).map((n) => n.kind)).toEqual([
      "follows",
      "messages",
      "messages",
    ]);
    expect((await get("/_nova/v1/notifications?unread_only=maybe")).body.errcode).toBe("M_INVALID_PARAM");
    expect((await get("/_nova/v1/notifications?from=x")).body.errcode).toBe("M_INVALID_PARAM");
  });

  it("marking read by id or all lowers the badge and queues a badge-only update; only one's own", async () => {
    await addPusher(t.db, ALICE, "phone");
    await events(1);
    await social("follows", "f1");
    await social("likes", "l1");
    expect(await t.service.unreadRoomCount(ALICE)).toBe(3);
    // One room with an unread notification, plus two social notifications.
    expect(await unreadRoomCount(t.db, ALICE)).toBe(3);
    const list = (await get("/_nova/v1/notifications")).body.notifications as { id: string; kind: string }[];
    const follow = list.find((n) => n.kind === "follows")!;
    // Bob cannot mark Alice's notifications.
    expect(
      (await t.call("POST", "/_nova/v1/notifications/read", "bob.B1", { ids: [follow.id] })).body,
    ).toEqual({
      marked: 0,
    });
    expect(await t.service.unreadRoomCount(ALICE)).toBe(3);

    const woken = t.woken();
    const r = await t.call("POST", "/_nova/v1/notifications/read", TOKEN, { ids: [follow.id] });
    expect(r).toEqual({ status: 200, body: { marked: 1 } });
    expect(await t.service.unreadRoomCount(ALICE)).toBe(2);
    expect((await queue(t.db)).filter((d) => d.badge_only)).toHaveLength(1);
    expect(t.woken()).toBe(woken + 1);

    expect((await t.call("POST", "/_nova/v1/notifications/read", TOKEN, { all: true })).body).toEqual({
      marked: 2,
    });
    expect(await t.service.unreadRoomCount(ALICE)).toBe(0);
    expect((await queue(t.db)).filter((d) => d.badge_only)).toHaveLength(2);
  });

  it.each([
    [{}],
    [{ ids: [] }],
    [{ ids: ["not-a-uuid"] }],
    [{ all: false }],
    [{ ids: [randomUUID()], all: true }],
  ])("POST /read with %j is 400 M_INVALID_PARAM", async (body) => {
    const r = await t.call("POST", "/_nova/v1/notifications/read", TOKEN, body);
    expect([r.status, r.body.errcode]).toEqual([400, "M_INVALID_PARAM"]);
  });

  it("preferences default to every kind enabled; a partial PUT answers the full map and is honoured", async () => {
    const all = {
      messages: true,
      mentions: true,
      invites: true,
      follows: true,
      likes: true,
      comments: true,
      shares: true,
    };
    expect((await get("/_nova/v1/notifications/preferences")).body).toEqual({ preferences: all });
    const put = await t.call("PUT", "/_nova/v1/notifications/preferences", TOKEN, {
      preferences: { likes: false },
    });
    expect(put).toEqual({ status: 200, body: { preferences: { ...all, likes: false } } });
    expect((await get("/_nova/v1/notifications/preferences")).body).toEqual({
      preferences: { ...all, likes: false },
    });
    expect((await get("/_nova/v1/notifications/preferences", "bob.B1")).body).toEqual({ preferences: all });

    expect(await social("likes", "l-off")).toEqual({ stored: false, reason: "disabled" });
    expect((await social("follows", "f-on")).stored).toBe(true);
    await t.call("PUT", "/_nova/v1/notifications/preferences", TOKEN, { preferences: { likes: true } });
    expect((await social("likes", "l-on")).stored).toBe(true);
  });

  it.each([
    [{ preferences: { pokes: false } }, "M_INVALID_PARAM"],
    [{ preferences: { likes: "no" } }, "M_INVALID_PARAM"],
    [{ preferences: [true] }, "M_INVALID_PARAM"],
    [{}, "M_MISSING_PARAM"],
  ])("PUT preferences %j is 400 %s and changes nothing", async (body, errcode) => {
    const r = await t.call("PUT", "/_nova/v1/notifications/preferences", TOKEN, body);
    expect([r.status, r.body.errcode]).toEqual([400, errcode]);
    const prefs = (await get("/_nova/v1/notifications/preferences")).body.preferences as Record<
      string,
      boolean
    >;
    expect(Object.values(prefs).every(Boolean)).toBe(true);
  });

  it("the same social dedup key inside the window notifies once", async () => {
    expect((await social("follows", "same")).stored).toBe(true);
    expect(await social("follows", "same")).toEqual({ stored: false, reason: "duplicate" });
  });
});
