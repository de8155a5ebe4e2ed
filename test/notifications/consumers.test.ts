import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import {
  addPusher,
  type NotificationsEnv,
  notificationsEnv,
  queue,
  record,
  roomEvent,
  stored,
  wipe,
} from "./helpers.ts";

const ALICE = "@alice:test";
const ROOM = "!room:test";

describe("notifications consumers (room and identity events)", () => {
  let t: NotificationsEnv;
  beforeAll(async () => {
    t = await notificationsEnv();
  });
  afterAll(() => t.close());
  beforeEach(() => wipe(t.db));

  const rows = (userId = ALICE) =>
    t.db.selectFrom("notifications").selectAll().where("user_id", "=", userId).orderBy("seq").execute();
  const receipt = (user: string, pos: number, threadId = "", room = ROOM) =>
    record("room", room, "room.receipt_moved", {
      room_id: room,
      user_id: user,
      event_id: `$r${pos}`,
      receipt_type: "m.read",
      thread_id: threadId,
      stream_position: pos,
    });

  it("stores a notification per recipient with its kind, body and actions, and queues one delivery per pusher", async () => {
    await addPusher(t.db, ALICE, "phone");
    await addPusher(t.db, ALICE, "tablet");
    const woken = t.woken();
    await t.rooms.handleBatch([
      roomEvent({
        event_id: "$m1",
        stream_position: 10,
        recipients: [
          { user_id: ALICE, actions: ["notify", { set_tweak: "highlight" }], highlight: true },
          { user_id: "@carol:test", actions: ["notify"], highlight: false },
        ],
      }),
    ]);
    const [a] = await rows();
    expect(a).toMatchObject({
      kind: "mentions",
      room_id: ROOM,
      event_id: "$m1",
      stream_position: 10,
      highlight: true,
      actions: ["notify", { set_tweak: "highlight" }],
      read_at: null,
      body: {
        event_id: "$m1",
        room_id: ROOM,
        type: "m.room.message",
        sender: "@bob:test",
        content: { msgtype: "m.text", body: "message 10" },
        sender_display_name: "Bob",
        room_name: "Room",
      },
    });
    expect((await rows("@carol:test"))[0]?.kind).toBe("messages");
    const q = await queue(t.db);
    expect(q.map((d) => [d.user_id, d.pushkey, d.notification_id, d.badge_only])).toEqual([
      [ALICE, "phone", a!.id, false],
      [ALICE, "tablet", a!.id, false],
    ]);
    expect(t.woken()).toBeGreaterThan(woken);
  });

  it("a large room's recipients are stored and pushed in chunks, preferences still per user", async () => {
    const users = Array.from({ length: 1_200 }, (_, i) => `@u${i}:test`);
    await addPusher(t.db, "@u7:test", "p7");
    await addPusher(t.db, "@u1100:test", "p1100");
    await t.service.setPreferences("@u8:test", { messages: false });
    await t.rooms.handleBatch([
      roomEvent({
        event_id: "$big",
        stream_position: 1,
        recipients: users.map((user_id) => ({ user_id, actions: ["notify"], highlight: false })),
      }),
    ]);
    const stored = await t.db.selectFrom("notifications").select("user_id").execute();
    expect(stored).toHaveLength(1_199);
    expect(stored.some((r) => r.user_id === "@u8:test")).toBe(false);
    expect((await queue(t.db)).map((d) => d.pushkey).sort()).toEqual(["p1100", "p7"]);
  });

  it("an invite is an invite for its invitee", async () => {
    await t.rooms.handleBatch([
      roomEvent({
        event_id: "$inv",
        stream_position: 3,
        type: "m.room.member",
        state_key: ALICE,
        content: { membership: "invite" },
      }),
    ]);
    expect((await rows()).map((r) => [r.kind, r.body.state_key])).toEqual([["invites", ALICE]]);
  });

  it("the same event delivered twice under different envelope ids notifies once and pushes once", async () => {
    await addPusher(t.db, ALICE, "phone");
    await t.rooms.handleBatch([roomEvent({ event_id: "$dup", stream_position: 5 })]);
    await t.rooms.handleBatch([roomEvent({ event_id: "$dup", stream_position: 5 })]);
    expect(await rows()).toHaveLength(1);
    expect(await queue(t.db)).toHaveLength(1);
  });

  it("two racing deliveries of one event (different envelope ids) store and push it once", async () => {
    await addPusher(t.db, ALICE, "phone");
    await Promise.all([
      t.rooms.handleBatch([roomEvent({ event_id: "$race", stream_position: 4 })]),
      t.rooms.handleBatch([roomEvent({ event_id: "$race", stream_position: 4 })]),
    ]);
    expect(await rows()).toHaveLength(1);
    expect(await queue(t.db)).toHaveLength(1);
  });

  it("onApplied wakes the worker once per committed batch, not for a redelivered one", async () => {
    const same = roomEvent({ event_id: "$once", stream_position: 1 });
    const before = t.woken();
    await t.rooms.handleBatch([same]);
    expect(t.woken()).toBe(before + 1);
    await t.rooms.handleBatch([same]);
    expect(t.woken()).toBe(before + 1);
  });

  it("past the dedup window a replayed event is still stored once per user", async () => {
    const clock = { now: 1_000_000 };
    const late = await notificationsEnv({ dedupWindowMs: 1_000, now: () => clock.now });
    try {
      await late.rooms.handleBatch([roomEvent({ event_id: "$old", stream_position: 5 })]);
      clock.now += 5_000;
      await late.rooms.handleBatch([roomEvent({ event_id: "$old", stream_position: 5 })]);
      expect(await late.db.selectFrom("notifications").select("id").execute()).toHaveLength(1);
      // Room events need no window row (their unique (user, event) key holds for good); social
      // notifications use the window: an expired key is pruned, a fresh one is kept.
      expect(await late.db.selectFrom("notification_dedup").select("dedup_key").execute()).toEqual([]);
      const follow = (key: string) =>
        late.db.transaction().execute((trx) =>
          late.service.notify(trx, {
            userId: ALICE,
            kind: "follows",
            sourceEventId: null,
            dedupKey: key,
            body: { follower: "@bob:test" },
            push: false,
          }),
        );
      await follow("follow:1");
      clock.now += 5_000;
      await follow("follow:2");
      expect(await late.service.pruneDedup()).toBe(1);
      const keys = await late.db.selectFrom("notification_dedup").select("dedup_key").execute();
      expect(keys.map((k) => k.dedup_key)).toEqual(["follow:2"]);
    } finally {
      await late.close();
    }
  });

  it("a disabled kind stores nothing and pushes nothing; other kinds still notify", async () => {
    await addPusher(t.db, ALICE, "phone");
    await t.service.setPreferences(ALICE, { messages: false });
    await t.rooms.handleBatch([
      roomEvent({ event_id: "$plain", stream_position: 1 }),
      roomEvent({
        event_id: "$ping",
        stream_position: 2,
        recipients: [{ user_id: ALICE, actions: ["notify"], highlight: true }],
      }),
    ]);
    expect((await rows()).map((r) => r.event_id)).toEqual(["$ping"]);
    expect(await queue(t.db)).toHaveLength(1);
  });

  it("a receipt reads up to its position and, as the room is then read, queues a badge-only update per pusher", async () => {
    await addPusher(t.db, ALICE, "phone");
    await t.rooms.handleBatch([
      roomEvent({ event_id: "$1", stream_position: 1 }),
      roomEvent({ event_id: "$2", stream_position: 2 }),
    ]);
    expect(await t.service.unreadRoomCount(ALICE)).toBe(1);
    await t.rooms.handleBatch([receipt(ALICE, 1)]);
    expect((await rows()).map((r) => [r.event_id, r.read_at !== null])).toEqual([
      ["$1", true],
      ["$2", false],
    ]);
    // The room still has an unread notification: the badge did not drop, nothing to send.
    expect((await queue(t.db)).filter((d) => d.badge_only)).toHaveLength(0);
    await t.rooms.handleBatch([receipt(ALICE, 2)]);
    expect(await t.service.unreadRoomCount(ALICE)).toBe(0);
    const badge = (await queue(t.db)).filter((d) => d.badge_only);
    expect(badge.map((d) => [d.pushkey, d.notification_id])).toEqual([["phone", null]]);
    // A receipt that reads nothing new sends nothing.
    await t.rooms.handleBatch([receipt(ALICE, 2)]);
    expect((await queue(t.db)).filter((d) => d.badge_only)).toHaveLength(1);
  });

  it("a threaded receipt reads only that thread; main reads only the main timeline", async () => {
    const inThread = (root: string) => ({
      msgtype: "m.text",
      body: "in thread",
      "m.relates_to": { rel_type: "m.thread", event_id: root },
    });
    await t.rooms.handleBatch([
      roomEvent({ event_id: "$main", stream_position: 1 }),
      roomEvent({ event_id: "$t1", stream_position: 2, content: inThread("$rootA") }),
      roomEvent({ event_id: "$t2", stream_position: 3, content: inThread("$rootB") }),
    ]);
    await t.rooms.handleBatch([receipt(ALICE, 3, "$rootA")]);
    const read = async () => (await rows()).filter((r) => r.read_at !== null).map((r) => r.event_id);
    expect(await read()).toEqual(["$t1"]);
    await t.rooms.handleBatch([receipt(ALICE, 3, "main")]);
    expect(await read()).toEqual(["$main", "$t1"]);
    await t.rooms.handleBatch([receipt(ALICE, 3)]);
    expect(await read()).toEqual(["$main", "$t1", "$t2"]);
  });

  it("sending an event reads the sender's notifications in that room up to it, and only there", async () => {
    await addPusher(t.db, ALICE, "phone");
    await t.rooms.handleBatch([
      roomEvent({ event_id: "$a", stream_position: 1 }),
      roomEvent({ event_id: "$elsewhere", stream_position: 2, room_id: "!other:test" }),
    ]);
    await t.rooms.handleBatch([
      roomEvent({
        event_id: "$reply",
        stream_position: 3,
        sender: ALICE,
        recipients: [{ user_id: "@bob:test", actions: ["notify"], highlight: false }],
      }),
    ]);
    expect((await rows()).map((r) => [r.event_id, r.read_at !== null])).toEqual([
      ["$a", true],
      ["$elsewhere", false],
    ]);
    expect((await queue(t.db)).filter((d) => d.badge_only && d.user_id === ALICE)).toHaveLength(1);
    expect(await t.service.unreadRoomCount(ALICE)).toBe(1);
  });

  it("the sender is never notified of their own event", async () => {
    await t.rooms.handleBatch([
      roomEvent({
        event_id: "$self",
        stream_position: 1,
        sender: ALICE,
        recipients: [{ user_id: ALICE, actions: ["notify"], highlight: false }],
      }),
    ]);
    expect(await rows()).toEqual([]);
  });

  it("leaving or being banned reads the room; joining does not", async () => {
    await t.rooms.handleBatch([
      roomEvent({ event_id: "$x", stream_position: 1 }),
      roomEvent({ event_id: "$y", stream_position: 1, room_id: "!b:test" }),
    ]);
    const membership = (room: string, m: string) =>
      record("room", room, "room.membership_changed", {
        room_id: room,
        user_id: ALICE,
        membership: m,
        prev_membership: "join",
        event_id: `$m-${m}`,
        sender: ALICE,
        stream_position: 9,
      });
    await t.rooms.handleBatch([membership(ROOM, "join")]);
    expect((await rows()).every((r) => r.read_at === null)).toBe(true);
    await t.rooms.handleBatch([membership(ROOM, "leave"), membership("!b:test", "ban")]);
    expect((await rows()).every((r) => r.read_at !== null)).toBe(true);
    expect(await t.service.unreadRoomCount(ALICE)).toBe(0);
  });

  it("a malformed payload is dead-lettered without blocking the rest of the batch", async () => {
    const deadBefore = t.rooms.deadLettered;
    await t.rooms.handleBatch([
      record("room", ROOM, "room.event_stored", { ...stored({ event_id: "bad", stream_position: 1 }) }),
      roomEvent({ event_id: "$good", stream_position: 2 }),
    ]);
    expect((await rows()).map((r) => r.event_id)).toEqual(["$good"]);
    expect(t.rooms.deadLettered - deadBefore).toBe(1);
  });

  it("a revoked device's pushers go, other devices' stay, and later pushes skip them", async () => {
    await addPusher(t.db, ALICE, "old-phone", "OLD");
    await addPusher(t.db, ALICE, "new-phone", "NEW");
    await t.identity.handleBatch([
      record("user", ALICE, "device.revoked", {
        user_id: ALICE,
        device_id: "OLD",
        session_id: "s",
        reason: "logout",
      }),
    ]);
    await t.rooms.handleBatch([roomEvent({ event_id: "$after", stream_position: 1 })]);
    expect((await queue(t.db)).map((d) => d.pushkey)).toEqual(["new-phone"]);
  });
});
