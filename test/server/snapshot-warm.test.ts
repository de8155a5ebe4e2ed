import { afterAll, describe, expect, it } from "vitest";
import type { RoomSnapshot } from "../../server/rooms/room-snapshot.ts";
import { durableStorage } from "../helpers/database.ts";
import { metricValue } from "../helpers/metrics.ts";
import { startTestServer } from "../helpers/server.ts";

const V3 = "/_matrix/client/v3";
const enc = encodeURIComponent;

/** What a snapshot holds, comparable across processes. */
function shape(s: RoomSnapshot | null) {
  if (!s) return null;
  return {
    version: s.version,
    state: [...s.state].map(([k, v]) => [k, v.eventId, v.position]).sort(),
    lastEventId: s.lastEventId,
    depth: s.depth,
    lastPosition: s.lastPosition,
    lastRelation: s.lastRelation,
    joined: s.members("join").sort(),
  };
}

describe("loading many rooms' state at once (SnapshotCache.warm)", () => {
  let cleanup: () => Promise<void> = async () => {};
  afterAll(async () => {
    await cleanup();
  });

  it("loads after a restart exactly what loading room by room does", { timeout: 120_000 }, async () => {
    const storage = await durableStorage("nova-warm-");
    cleanup = storage.cleanup;
    const first = await startTestServer(storage.env);
    const alice = await first.register("alice");
    const bob = await first.register("bob");
    const call = (token: string, method: string, path: string, body?: unknown) =>
      first.call(method, `${V3}${path}`, { token, body });
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      const r = await call(alice.accessToken, "POST", "/createRoom", {
        preset: "public_chat",
        name: `r${i}`,
      });
      ids.push(r.body.room_id as string);
    }
    const [plain, busy, related] = ids as [string, string, string];
    expect((await call(bob.accessToken, "POST", `/join/${enc(busy)}`, {})).status).toBe(200);
    await call(alice.accessToken, "PUT", `/rooms/${enc(busy)}/state/m.room.topic/`, { topic: "t" });
    await call(alice.accessToken, "PUT", `/rooms/${enc(busy)}/state/m.room.name/`, { name: "renamed" });
    const msg = await call(alice.accessToken, "PUT", `/rooms/${enc(related)}/send/m.room.message/m1`, {
      msgtype: "m.text",
      body: "hi",
    });
    const reaction = await call(alice.accessToken, "PUT", `/rooms/${enc(related)}/send/m.reaction/r1`, {
      "m.relates_to": { rel_type: "m.annotation", event_id: msg.body.event_id, key: "👍" },
    });
    expect(reaction.status).toBe(200);
    await call(alice.accessToken, "PUT", `/rooms/${enc(related)}/send/m.room.message/m2`, {
      msgtype: "m.text",
      body: "after the reaction",
    });
    const expected = [];
    for (const id of ids) expected.push(shape(await first.rooms.snapshot(id)));
    expect(expected[2]!.lastRelation).toBeGreaterThan(0);
    await first.close();

    const second = await startTestServer(storage.env);
    try {
      await second.rooms.warmSnapshots([...ids, "!unknown:localhost", plain]);
      const misses = await metricValue("nova_cache_misses_total", { cache: "snapshots" });
      const warmed = [];
      for (const id of ids) warmed.push(shape(await second.rooms.snapshot(id)));
      expect(warmed).toEqual(expected);
      // All three came from memory: warm loaded them.
      expect(await metricValue("nova_cache_misses_total", { cache: "snapshots" })).toBe(misses);
      expect(await second.rooms.snapshot("!unknown:localhost")).toBeNull();
      // A warmed room is written on as a loaded one is.
      const next = await second.call("PUT", `${V3}/rooms/${enc(busy)}/send/m.room.message/m3`, {
        token: alice.accessToken,
        body: { msgtype: "m.text", body: "after the restart" },
      });
      expect(next.status).toBe(200);
      expect((await second.rooms.snapshot(busy))!.lastEventId).toBe(next.body.event_id);
    } finally {
      await second.close();
    }
  });
});
