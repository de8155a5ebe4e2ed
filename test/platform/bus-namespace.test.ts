import { describe, expect, it } from "vitest";
import { MemoryEventBus } from "../../companion-services/platform/event-bus/memory.ts";
import { NamespacedEventBus } from "../../companion-services/platform/event-bus/namespace.ts";
import type { DeliveredRecord } from "../../companion-services/platform/event-bus.ts";
import { waitFor } from "../helpers/wait.ts";

describe("KAFKA_NAMESPACE: deployments sharing one broker", () => {
  it("keeps each deployment's topics and groups apart, and hands services the plain names", async () => {
    const broker = new MemoryEventBus();
    const a = new NamespacedEventBus(broker, "staging");
    const b = new NamespacedEventBus(broker, "prod");
    const got: Record<string, DeliveredRecord[]> = { a: [], b: [], raw: [] };
    const subs = [
      await a.subscribe({
        group: "search.rooms",
        topics: ["nova.room.events"],
        handle: async (r) => void got.a!.push(...r),
      }),
      await b.subscribe({
        group: "search.rooms",
        topics: ["nova.room.events"],
        handle: async (r) => void got.b!.push(...r),
      }),
      await broker.subscribe({
        group: "search.rooms",
        topics: ["prod.nova.room.events"],
        handle: async (r) => void got.raw!.push(...r),
      }),
    ];
    await a.publish([{ topic: "nova.room.events", key: "!r", value: "from staging", headers: {} }]);
    await b.publish([{ topic: "nova.room.events", key: "!r", value: "from prod", headers: {} }]);
    await waitFor(
      "deliveries",
      () => got.a!.length === 1 && got.b!.length === 1 && got.raw!.length === 1,
      5_000,
    );
    expect(got.a!.map((r) => [r.topic, r.value])).toEqual([["nova.room.events", "from staging"]]);
    expect(got.b!.map((r) => [r.topic, r.value])).toEqual([["nova.room.events", "from prod"]]);
    // On the broker, prod's records are under its prefix, and its group is its own.
    expect(got.raw!.map((r) => [r.topic, r.value])).toEqual([["prod.nova.room.events", "from prod"]]);
    for (const s of subs) await s.close();
    await broker.close();
  });
});
