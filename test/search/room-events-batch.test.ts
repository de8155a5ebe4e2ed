import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { toRecord } from "../../companion-services/platform/envelope.ts";
import { MemoryEventBus } from "../../companion-services/platform/event-bus/memory.ts";
import type { DeliveredRecord } from "../../companion-services/platform/event-bus.ts";
import { createLogger } from "../../companion-services/platform/logger.ts";
import { createSearchConsumers } from "../../companion-services/search/consumers.ts";
import { queries } from "../../companion-services/search/queries.repository.ts";
import type { SearchTables } from "../../companion-services/search/tables.ts";
import type { RoomEventStored } from "../../server/events.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";

type Event = Pick<RoomEventStored, "room_id" | "type" | "content"> & {
  state_key?: string;
  event_id?: string;
};

describe("search's room-events consumer: a batch has the effect of its events one by one", () => {
  let t: TestServer;
  let bus: MemoryEventBus;
  let offset = 0;
  let position = 0;

  beforeAll(async () => {
    t = await startTestServer();
    bus = new MemoryEventBus();
  }, 60_000);
  afterAll(async () => {
    await bus?.close();
    await t?.close();
  });

  const db = () => t.ctx.databases.get<SearchTables>("search").db;
  const consumer = (generation: number) =>
    createSearchConsumers(db(), bus, createLogger("silent"), generation)[2]!;

  function record(e: Event): DeliveredRecord & { eventId: string } {
    const eventId = e.event_id ?? `$${randomUUID()}`;
    const payload: RoomEventStored = {
      event_id: eventId,
      stream_position: ++position,
      sender: "@alice:batch.test",
      origin_server_ts: Date.now(),
      sender_display_name: null,
      room_name: null,
      member_count: 2,
      recipients: [],
      ...e,
    };
    return {
      ...toRecord({
        id: randomUUID(),
        aggregate_type: "room",
        aggregate_id: e.room_id,
        event_type: "room.event_stored",
        payload,
        metadata: {},
        created_at: Date.now(),
      }),
      partition: 0,
      offset: String(offset++),
      eventId,
    };
  }
  const message = (roomId: string, body: string): Event => ({
    room_id: roomId,
    type: "m.room.message",
    content: { msgtype: "m.text", body },
  });
  const stateEvent = (roomId: string, type: string, content: Record<string, unknown>): Event => ({
    room_id: roomId,
    type,
    state_key: "",
    content,
  });

  /** What POST /search would find for the term in the room (the service's own query). */
  async function found(roomId: string, term: string): Promise<string[]> {
    const r = await queries.roomEvents(
      db(),
      { term, roomIds: [roomId], orderBy: "recent", limit: 100 },
      null,
    );
    return r.values.sort();
  }
  const room = (roomId: string) =>
    db()
      .selectFrom("search_rooms")
      .select(["name", "topic", "encrypted"])
      .where("room_id", "=", roomId)
      .executeTakeFirst();

  /**
   * Rooms A and B: an earlier batch indexed a message of B; then ONE batch with messages in both,
   * A's encryption, more messages (plaintext in A too), state changes and redactions of B's
   * messages (one from the earlier batch, one from this very batch).
   */
  function scenario() {
    const a = `!a${randomUUID()}:batch.test`;
    const b = `!b${randomUUID()}:batch.test`;
    const earlier = record(message(b, "walrus from yesterday"));
    const b1 = record(message(b, "walrus one in b"));
    const batch = [
      record(message(a, "walrus one in a")),
      b1,
      record(stateEvent(b, "m.room.topic", { topic: "walrus topic first" })),
      record(message(a, "walrus two in a")),
      record(stateEvent(a, "m.room.encryption", { algorithm: "m.megolm.v1.aes-sha2" })),
      record(message(a, "walrus three in a, plaintext after encryption")),
      record(stateEvent(a, "m.room.name", { name: "walrus name" })),
      record({ room_id: b, type: "m.room.encrypted", content: { algorithm: "x", ciphertext: "walrus" } }),
      record(message(b, "walrus two in b")),
      record(message(b, "   ")),
      record({ room_id: b, type: "m.room.redaction", content: { redacts: b1.eventId } }),
      record({ room_id: b, type: "m.room.redaction", content: { redacts: earlier.eventId } }),
      record(stateEvent(b, "m.room.topic", { topic: "walrus topic second" })),
      record(message(b, "walrus three in b")),
    ];
    return { a, b, earlier, batch };
  }

  async function expectOutcome(a: string, b: string) {
    expect(await found(a, "walrus")).toEqual([]);
    expect(await room(a)).toMatchObject({ name: "walrus name", encrypted: true });
    // The topic is indexed as an event of its own: both topic events are found, the room has the last.
    expect(await found(b, "walrus")).toEqual([
      "walrus three in b",
      "walrus topic first",
      "walrus topic second",
      "walrus two in b",
    ]);
    expect(await room(b)).toMatchObject({ topic: "walrus topic second", encrypted: false });
  }

  it("one batch mixing two rooms, an encryption and redactions: A has nothing, B all but the redacted", async () => {
    const c = consumer(2_001);
    const { a, b, earlier, batch } = scenario();
    await c.handleBatch([earlier]);
    expect(await found(b, "walrus")).toEqual(["walrus from yesterday"]);
    await c.handleBatch(batch);
    expect(c.deadLettered).toBe(0);
    await expectOutcome(a, b);
    // Redelivered whole (a consumer restarted before committing its offsets): nothing changes.
    await c.handleBatch(batch);
    await expectOutcome(a, b);
  });

  it("the same events one per batch (the retry path) end the same", async () => {
    const c = consumer(2_002);
    const { a, b, earlier, batch } = scenario();
    for (const r of [earlier, ...batch]) await c.handleBatch([r]);
    expect(c.deadLettered).toBe(0);
    await expectOutcome(a, b);
  });

  it("a batch larger than one insert's chunk indexes all of it, once", async () => {
    const c = consumer(2_003);
    const r = `!big${randomUUID()}:batch.test`;
    const batch = Array.from({ length: 1_201 }, (_, i) => record(message(r, `narwhal number ${i}`)));
    // The same Matrix event twice in one batch (published twice): indexed once.
    const again = record({ ...message(r, "narwhal number 0"), event_id: batch[0]!.eventId });
    await c.handleBatch([...batch, again]);
    const n = await db()
      .selectFrom("search_room_events")
      .select((eb) => eb.fn.countAll<number>().as("n"))
      .where("room_id", "=", r)
      .executeTakeFirstOrThrow();
    expect(Number(n.n)).toBe(1_201);
  });
});
