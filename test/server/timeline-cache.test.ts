import { describe, expect, it } from "vitest";
import { RoomTimelineCache } from "../../server/rooms/caches/timelines.ts";
import type { EventRow } from "../../server/rooms/rooms.repository.ts";
import { eventRow } from "../helpers/rows.ts";

const row = eventRow;
const positions = (rows: EventRow[] | null) => rows?.map((r) => r.stream_position) ?? null;

describe("RoomTimelineCache", () => {
  it("serves windows inside what a read covered, newest first, and refuses others", () => {
    const c = new RoomTimelineCache();
    expect(c.get("!r", 0, 10, 11)).toBeNull();
    c.put("!r", 2, 10, [row(9), row(5)], 11);
    expect(positions(c.get("!r", 2, 10, 11))).toEqual([9, 5]);
    expect(positions(c.get("!r", 5, 10, 11))).toEqual([9]);
    expect(positions(c.get("!r", 6, 8, 11))).toEqual([]);
    expect(c.get("!r", 1, 10, 11)).toBeNull(); // starts before the read's window
    expect(c.get("!r", 5, 11, 11)).toBeNull(); // ends after it
  });

  it("covers only from the oldest row when a read hit its limit", () => {
    const c = new RoomTimelineCache();
    c.put("!r", 0, 10, [row(10), row(9)], 2);
    expect(c.get("!r", 0, 10, 5)).toBeNull();
    expect(positions(c.get("!r", 8, 10, 5))).toEqual([10, 9]);
  });

  it("extends with this process's writes only when they build on the covered head", () => {
    const c = new RoomTimelineCache();
    c.put("!r", 0, 10, [row(7)], 11);
    c.append("!r", 12, [row(13)]); // the room's head was 12: 11–12 were never read here
    expect(c.get("!r", 0, 13, 11)).toBeNull();
    c.append("!r", 7, [row(14), row(15)]); // built on 7, the head the read saw
    expect(positions(c.get("!r", 0, 15, 11))).toEqual([15, 14, 7]);
    c.drop("!r");
    expect(c.get("!r", 0, 15, 11)).toBeNull();
  });

  it("merges overlapping reads and keeps a bounded tail", () => {
    const c = new RoomTimelineCache();
    c.put("!r", 0, 10, [row(4)], 11);
    c.put("!r", 8, 20, [row(19)], 11);
    expect(positions(c.get("!r", 0, 20, 11))).toEqual([19, 4]);
    const many = Array.from({ length: 40 }, (_, i) => row(100 - i));
    c.put("!r", 20, 100, many, 50);
    expect(c.get("!r", 20, 100, 50)).toBeNull(); // the oldest rows were dropped
    expect(positions(c.get("!r", 90, 100, 50))).toEqual([100, 99, 98, 97, 96, 95, 94, 93, 92, 91]);
  });

  it("extends past its end while the change index shows the room quiet, and not otherwise", () => {
    let last: number | null = 7;
    const c = new RoomTimelineCache(() => last);
    c.put("!r", 0, 10, [row(7)], 11);
    expect(positions(c.get("!r", 0, 20, 11))).toEqual([7]); // nothing touched the room after 10
    last = 25;
    expect(c.get("!r", 0, 30, 11)).toBeNull(); // something did, at 25: ask the database
    expect(positions(c.get("!r", 5, 20, 11))).toEqual([7]); // still covered up to 20
    last = null;
    expect(c.get("!r", 0, 21, 11)).toBeNull(); // the index does not know: ask the database
  });
});
