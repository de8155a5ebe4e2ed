import { afterAll, describe, expect, it } from "vitest";
import { durableStorage } from "../helpers/database.ts";
import { startTestServer } from "../helpers/server.ts";

const V3 = "/_matrix/client/v3";
const enc = encodeURIComponent;

describe("rooms across a restart", () => {
  let cleanup: () => Promise<void> = async () => {};
  afterAll(async () => {
    await cleanup();
  });

  it("keeps rooms, state, the signing key and txn idempotency", { timeout: 120_000 }, async () => {
    const storage = await durableStorage("nova-rooms-");
    cleanup = storage.cleanup;
    const first = await startTestServer(storage.env);
    const alice = await first.register("alice");
    const created = await first.call("POST", `${V3}/createRoom`, {
      token: alice.accessToken,
      body: { name: "durable" },
    });
    const roomId = created.body.room_id as string;
    const sent = await first.call("PUT", `${V3}/rooms/${enc(roomId)}/send/m.room.message/restart-1`, {
      token: alice.accessToken,
      body: { body: "before" },
    });
    const keyBefore = (await first.rooms.signingKey()).keyId;
    await first.close();

    const second = await startTestServer(storage.env);
    try {
      expect((await second.rooms.signingKey()).keyId).toBe(keyBefore);
      const retry = await second.call("PUT", `${V3}/rooms/${enc(roomId)}/send/m.room.message/restart-1`, {
        token: alice.accessToken,
        body: { body: "before" },
      });
      expect(retry.body.event_id).toBe(sent.body.event_id);
      const name = await second.call("GET", `${V3}/rooms/${enc(roomId)}/state/m.room.name`, {
        token: alice.accessToken,
      });
      expect(name.body).toEqual({ name: "durable" });
      const after = await second.call("PUT", `${V3}/rooms/${enc(roomId)}/send/m.room.message/restart-2`, {
        token: alice.accessToken,
        body: { body: "after" },
      });
      expect(after.status).toBe(200);
      const page = await second.call("GET", `${V3}/rooms/${enc(roomId)}/messages?dir=b&limit=2`, {
        token: alice.accessToken,
      });
      expect((page.body.chunk as { content: { body: string } }[]).map((e) => e.content.body)).toEqual([
        "after",
        "before",
      ]);
      // The new event continues the room's history from the stored extremity.
      const snap = await second.rooms.snapshot(roomId);
      expect(snap!.lastEventId).toBe(after.body.event_id);
      const stored = await second.rooms.repo.getEvent(after.body.event_id as string);
      expect(JSON.parse(stored!.pdu).prev_events).toEqual([sent.body.event_id]);
    } finally {
      await second.close();
    }
  });
});
