import { describe, expect, it } from "vitest";
import {
  applyEventFields,
  canonicalJson,
  eventMatchesFilter,
  filterEvents,
  parseFilter,
  pickEventFields,
  roomAllowed,
  splitFieldPath,
  typeMatches,
} from "../../sync/filter.ts";

describe("sync filter helpers", () => {
  it("validates the spec's filter shape and keeps unknown (unstable) keys", () => {
    const f = parseFilter({
      room: { timeline: { limit: 8, unread_thread_notifications: true, "org.example.x": 1 } },
      "org.matrix.msc0000": true,
    });
    expect(f.room?.timeline?.limit).toBe(8);
    expect((f as Record<string, unknown>)["org.matrix.msc0000"]).toBe(true);
    expect(() => parseFilter({ presence: { types: "m.presence" } })).toThrow();
    expect(() => parseFilter({ room: { include_leave: "yes" } })).toThrow();
    expect(() => parseFilter(null)).toThrow();
  });

  it("refuses the invalid filters of sytest 80torture/10filters", () => {
    const invalid: unknown[] = [
      { presence: "not_an_object" },
      { room: { timeline: "not_an_object" } },
      { room: { state: "not_an_object" } },
      { room: { ephemeral: "not_an_object" } },
      { room: { private_user_data: "not_an_object" } },
      ...["rooms", "not_rooms", "senders", "not_senders", "types", "not_types"].map((k) => ({
        room: { timeline: { [k]: "not_a_list" } },
      })),
      { room: { timeline: { types: [0] } } },
      { room: { timeline: { rooms: ["not_a_room_id"] } } },
      { room: { rooms: ["not_a_room_id"] } },
      { room: { timeline: { senders: ["not_a_sender_id"] } } },
      { presence: { not_senders: ["nobody"] } },
    ];
    for (const f of invalid) expect(() => parseFilter(f), JSON.stringify(f)).toThrow();
    expect(
      parseFilter({ room: { rooms: ["!a:x"], timeline: { senders: ["@a:x"], not_rooms: ["!b:y"] } } }).room
        ?.rooms,
    ).toEqual(["!a:x"]);
  });

  it("matches types with * wildcards and applies not_* before inclusions", () => {
    expect(typeMatches("m.room.*", "m.room.message")).toBe(true);
    expect(typeMatches("m.room.*", "m.roomy")).toBe(false);
    expect(typeMatches("m.room.message", "m.room.message.x")).toBe(false);
    const f = { types: ["m.*"], not_types: ["m.room.member"], not_senders: ["@spam:x"] };
    expect(eventMatchesFilter(f, { type: "m.room.message", sender: "@a:x" })).toBe(true);
    expect(eventMatchesFilter(f, { type: "m.room.member", sender: "@a:x" })).toBe(false);
    expect(eventMatchesFilter(f, { type: "m.room.message", sender: "@spam:x" })).toBe(false);
    expect(eventMatchesFilter(f, { type: "org.example", sender: "@a:x" })).toBe(false);
    expect(eventMatchesFilter({ contains_url: true }, { type: "m", content: { url: "mxc://a/b" } })).toBe(
      true,
    );
    expect(eventMatchesFilter({ contains_url: true }, { type: "m", content: {} })).toBe(false);
    expect(eventMatchesFilter({ not_rooms: ["!a:x"] }, { type: "m", room_id: "!a:x" })).toBe(false);
  });

  it("applies limits and room lists", () => {
    const evs = [1, 2, 3, 4].map((n) => ({ type: `t${n}` }));
    expect(filterEvents({ limit: 2 }, evs).map((e) => e.type)).toEqual(["t1", "t2"]);
    expect(filterEvents({ limit: 2 }, evs, "last").map((e) => e.type)).toEqual(["t3", "t4"]);
    expect(roomAllowed({ room: { rooms: ["!a:x"] } }, "!b:x")).toBe(false);
    expect(roomAllowed({ room: { rooms: ["!a:x"], not_rooms: ["!a:x"] } }, "!a:x")).toBe(false);
    expect(roomAllowed({}, "!b:x")).toBe(true);
  });

  it("keeps only event_fields, with escaped dots", () => {
    expect(splitFieldPath("content.m\\.relates_to.rel_type")).toEqual([
      "content",
      "m.relates_to",
      "rel_type",
    ]);
    const ev = {
      type: "m.room.message",
      sender: "@a:x",
      content: { body: "hi", "m.relates_to": { rel_type: "r" } },
    };
    expect(pickEventFields(ev, ["type", "content.m\\.relates_to.rel_type", "missing.key"])).toEqual({
      type: "m.room.message",
      content: { "m.relates_to": { rel_type: "r" } },
    });
    const response = {
      next_batch: "s1_1",
      account_data: { events: [{ type: "x", content: { a: 1 } }] },
      rooms: { join: { "!r:x": { timeline: { events: [ev], limited: false } } } },
    };
    applyEventFields(response, ["type"]);
    expect(response.account_data.events).toEqual([{ type: "x" }]);
    expect(response.rooms.join["!r:x"].timeline).toEqual({
      events: [{ type: "m.room.message" }],
      limited: false,
    });
  });

  it("canonicalises JSON so key order does not matter", () => {
    expect(canonicalJson({ b: 1, a: { d: [1, { z: 1, y: 2 }], c: null } })).toBe(
      '{"a":{"c":null,"d":[1,{"y":2,"z":1}]},"b":1}',
    );
  });
});
