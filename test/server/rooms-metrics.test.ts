import { describe, expect, it } from "vitest";
import { RoomTimelineCache } from "../../server/rooms/caches/timelines.ts";
import { roomsWriteBatcher } from "../../server/rooms/write/batcher.ts";
import { metricValue } from "../helpers/metrics.ts";
import { eventRow } from "../helpers/rows.ts";

const row = eventRow;

describe("rooms metrics", () => {
  it("observe the write batcher's batch sizes and queue waits", async () => {
    const batches = await metricValue("nova_rooms_write_batch_size_count");
    const events = await metricValue("nova_rooms_write_batch_size_sum");
    const waits = await metricValue("nova_rooms_write_queue_wait_seconds_count");
    const batcher = roomsWriteBatcher<number, number>(async (items) => items.map((i) => i * 2));
    expect(await Promise.all([1, 2, 3].map((i) => batcher.submit(i)))).toEqual([2, 4, 6]);
    expect(await metricValue("nova_rooms_write_batch_size_count")).toBe(batches + 1);
    expect(await metricValue("nova_rooms_write_batch_size_sum")).toBe(events + 3);
    expect(await metricValue("nova_rooms_write_queue_wait_seconds_count")).toBe(waits + 3);
  });

  it("keep a weighed batch under its weight, a heavier item going alone, and observe the weight", async () => {
    const events = await metricValue("nova_rooms_write_batch_size_sum");
    const batches: number[][] = [];
    const batcher = roomsWriteBatcher<number, number>(
      async (items) => {
        batches.push(items);
        return items;
      },
      { weight: (n) => n, maxWeight: 10 },
    );
    await Promise.all([4, 5, 3, 12, 1].map((n) => batcher.submit(n)));
    // Each batch takes what fits from the front of the queue, in order.
    expect(batches.flat()).toEqual([4, 5, 3, 12, 1]);
    for (const b of batches) expect(b.length === 1 || b.reduce((x, y) => x + y, 0) <= 10).toBe(true);
    expect(batches).toContainEqual([12]);
    expect(await metricValue("nova_rooms_write_batch_size_sum")).toBe(events + 25);
  });

  it("count a cache's hits and misses and report its size", async () => {
    const cache = { cache: "timelines" };
    const hits = await metricValue("nova_cache_hits_total", cache);
    const misses = await metricValue("nova_cache_misses_total", cache);
    const size = await metricValue("nova_cache_entries", cache);
    const c = new RoomTimelineCache();
    expect(c.get("!r", 0, 10, 11)).toBeNull();
    c.put("!r", 0, 10, [row(9)], 11);
    expect(c.get("!r", 0, 10, 11)).toHaveLength(1);
    expect(await metricValue("nova_cache_hits_total", cache)).toBe(hits + 1);
    expect(await metricValue("nova_cache_misses_total", cache)).toBe(misses + 1);
    expect(await metricValue("nova_cache_entries", cache)).toBe(size + 1);
    c.drop("!r");
    expect(await metricValue("nova_cache_entries", cache)).toBe(size);
  });
});
