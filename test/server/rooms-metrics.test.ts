import { describe, expect, it } from "vitest";
import { registry } from "../../companion-services/platform/metrics.ts";
import { RoomTimelineCache } from "../../server/rooms/caches/timelines.ts";
import type { EventRow } from "../../server/rooms/rooms.repository.ts";
import { WriteBatcher } from "../../server/rooms/write/batcher.ts";

/** The sum of a metric's samples named `sample` (a histogram's `_count`, `_sum`) with these labels. */
async function value(name: string, labels: Record<string, string> = {}, sample = name): Promise<number> {
  const metric = registry.getSingleMetric(name);
  if (!metric) throw new Error(`${name} is not registered`);
  const { values } = await metric.get();
  const match = values.filter(
    (v) =>
      Object.entries(labels).every(([k, l]) => v.labels[k] === l) &&
      ("metricName" in v ? v.metricName === sample : sample === name),
  );
  return match.reduce((sum, v) => sum + v.value, 0);
}

const row = (p: number): EventRow => ({
  event_id: `$e${p}`,
  room_id: "!r",
  stream_position: p,
  type: "m.room.message",
  state_key: null,
  sender: "@u",
  membership: null,
  pdu: "{}",
  prev_state: null,
  txn_device_id: null,
  txn_id: null,
  redacted_because: null,
});

describe("rooms metrics", () => {
  it("observe the write batcher's batch sizes and queue waits", async () => {
    const batches = await value("nova_rooms_write_batch_size", {}, "nova_rooms_write_batch_size_count");
    const events = await value("nova_rooms_write_batch_size", {}, "nova_rooms_write_batch_size_sum");
    const waits = await value(
      "nova_rooms_write_queue_wait_seconds",
      {},
      "nova_rooms_write_queue_wait_seconds_count",
    );
    const batcher = new WriteBatcher<number, number>(async (items) => items.map((i) => i * 2));
    expect(await Promise.all([1, 2, 3].map((i) => batcher.submit(i)))).toEqual([2, 4, 6]);
    expect(await value("nova_rooms_write_batch_size", {}, "nova_rooms_write_batch_size_count")).toBe(
      batches + 1,
    );
    expect(await value("nova_rooms_write_batch_size", {}, "nova_rooms_write_batch_size_sum")).toBe(
      events + 3,
    );
    expect(
      await value("nova_rooms_write_queue_wait_seconds", {}, "nova_rooms_write_queue_wait_seconds_count"),
    ).toBe(waits + 3);
  });

  it("count a cache's hits and misses and report its size", async () => {
    const cache = { cache: "timelines" };
    const hits = await value("nova_cache_hits_total", cache);
    const misses = await value("nova_cache_misses_total", cache);
    const size = await value("nova_cache_entries", cache);
    const c = new RoomTimelineCache();
    expect(c.get("!r", 0, 10, 11)).toBeNull();
    c.put("!r", 0, 10, [row(9)], 11);
    expect(c.get("!r", 0, 10, 11)).toHaveLength(1);
    expect(await value("nova_cache_hits_total", cache)).toBe(hits + 1);
    expect(await value("nova_cache_misses_total", cache)).toBe(misses + 1);
    expect(await value("nova_cache_entries", cache)).toBe(size + 1);
    c.drop("!r");
    expect(await value("nova_cache_entries", cache)).toBe(size);
  });
});
