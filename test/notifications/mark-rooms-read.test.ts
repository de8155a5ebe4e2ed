import type { KyselyPlugin } from "kysely";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { addPusher, type NotificationsEnv, notificationsEnv, queue, roomEvent, wipe } from "./helpers.ts";

const ALICE = "@alice:test";
const BOB = "@bob:test";
const CAROL = "@carol:test";
const DAN = "@dan:test";
const EVE = "@eve:test";

const to = (...users: string[]) =>
  users.map((user_id) => ({ user_id, actions: ["notify"], highlight: false }));

/** A message from `sender` in `roomId` notifying `recipients`. */
const msg = (eventId: string, pos: number, roomId: string, sender: string, ...recipients: string[]) =>
  roomEvent({
    event_id: eventId,
    stream_position: pos,
    room_id: roomId,
    sender,
    recipients: to(...recipients),
  });

/** Counts the statements run through a Kysely instance (raw `sql` included). */
function statementCounter(): KyselyPlugin & { count: number } {
  return {
    count: 0,
    transformQuery(args) {
      this.count++;
      return args.node;
    },
    transformResult: async (args) => args.result,
  };
}

describe("senders reading their rooms in one batch (markRoomsRead)", () => {
  let t: NotificationsEnv;
  beforeAll(async () => {
    t = await notificationsEnv();
  });
  afterAll(() => t.close());
  beforeEach(() => wipe(t.db));

  const badges = async () =>
    (await queue(t.db)).filter((d) => d.badge_only).map((d) => [d.user_id, d.pushkey, d.notification_id]);

  it("queues one badge update per pusher of each user whose badge dropped, none for the rest", async () => {
    await addPusher(t.db, ALICE, "alice-phone");
    await addPusher(t.db, BOB, "bob-phone");
    await addPusher(t.db, DAN, "dan-phone");
    // Eve's events: alice unread in R1 and R2, bob in R2 and R3, carol in R1, dan in R3.
    await t.rooms.handleBatch([
      msg("$1", 1, "!r1:test", EVE, ALICE, CAROL),
      msg("$2", 2, "!r2:test", EVE, ALICE, BOB),
      msg("$3", 3, "!r3:test", EVE, BOB, DAN),
    ]);
    expect(await t.service.unreadRoomCount(ALICE)).toBe(2);
    expect(await t.service.unreadRoomCount(BOB)).toBe(2);
    const before = (await queue(t.db)).length;

    // One batch: alice reads both her rooms, bob only R2, carol R1 (she has no pusher), dan R3,
    // where eve's later event in the same batch leaves him an unread notification.
    await t.rooms.handleBatch([
      msg("$a1", 10, "!r1:test", ALICE, EVE),
      msg("$a2", 11, "!r2:test", ALICE, EVE),
      msg("$b2", 12, "!r2:test", BOB, EVE),
      msg("$c1", 13, "!r1:test", CAROL, EVE),
      msg("$d3", 14, "!r3:test", DAN, EVE),
      msg("$e3", 15, "!r3:test", EVE, DAN),
    ]);

    // Alice emptied two rooms and still gets one badge update; bob's dropped to the room he kept.
    expect(await badges()).toEqual([
      [ALICE, "alice-phone", null],
      [BOB, "bob-phone", null],
    ]);
    // What the worker reads as `counts.unread` when it sends them.
    expect(await t.service.unreadRoomCount(ALICE)).toBe(0);
    expect(await t.service.unreadRoomCount(BOB)).toBe(1);
    expect(await t.service.unreadRoomCount(CAROL)).toBe(0);
    expect(await t.service.unreadRoomCount(DAN)).toBe(1);
    // Besides the badges, only the push of eve's $e3 to dan.
    const rest = (await queue(t.db)).slice(before).filter((d) => !d.badge_only);
    expect(rest.map((d) => d.user_id)).toEqual([DAN]);
  });

  it("runs the same few statements for 3 reads or 60, and one fewer when no one to badge has a pusher", async () => {
    const users = Array.from({ length: 63 }, (_, i) => `@u${i}:test`);
    const room = (i: number) => `!room${i}:test`;
    // Every other user has a pusher; each has one unread notification in their own room.
    for (const [i, u] of users.entries()) if (i % 2 === 0) await addPusher(t.db, u, `p${i}`);
    await t.rooms.handleBatch(users.map((u, i) => msg(`$n${i}`, i + 1, room(i), EVE, u)));
    const statements = async (indexes: number[]) => {
      const counter = statementCounter();
      await t.db
        .withPlugin(counter)
        .transaction()
        .execute((trx) =>
          t.service.markRoomsRead(
            trx,
            indexes.map((i) => ({ userId: users[i]!, roomId: room(i), upTo: 1_000 })),
          ),
        );
      return counter.count;
    };
    const range = (from: number, n: number) => Array.from({ length: n }, (_, i) => from + i);
    // The update, the pushers of those whose badge dropped, one enqueue.
    expect(await statements(range(60, 3))).toBe(3);
    expect(await statements(range(0, 60))).toBe(3);
    expect((await queue(t.db)).filter((d) => d.badge_only)).toHaveLength(32);
    expect(await statements([])).toBe(0);

    await t.rooms.handleBatch([msg("$late", 500, room(1), EVE, users[1]!)]);
    expect(await statements([1])).toBe(2);
  });
});
