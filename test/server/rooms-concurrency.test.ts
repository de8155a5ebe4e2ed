import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SyncEngine } from "../../sync/engine.ts";
import type { SyncToken } from "../../sync/token.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";

const V3 = "/_matrix/client/v3";
const enc = encodeURIComponent;

/**
 * DESIGN §5: many writers across rooms commit out of order while a reader syncs incrementally in a
 * loop; the union of what the reader saw must be every event, none skipped.
 */
describe("rooms under concurrent writers", () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer();
  });
  afterAll(async () => {
    await s.close();
  });

  it("never lets an incremental sync skip an event", { timeout: 120_000 }, async () => {
    const users = await Promise.all([0, 1, 2, 3].map((i) => s.register(`writer${i}`)));
    const reader = users[0]!;
    const roomIds: string[] = [];
    for (let r = 0; r < 6; r++) {
      const c = await s.call("POST", `${V3}/createRoom`, {
        token: reader.accessToken,
        body: { preset: "public_chat" },
      });
      roomIds.push(c.body.room_id as string);
      for (const u of users.slice(1)) {
        await s.call("POST", `${V3}/join/${enc(c.body.room_id as string)}`, {
          token: u.accessToken,
          body: {},
        });
      }
    }
    const provider = s.ctx.syncProviders.find((p) => p.name === "rooms")!;
    const engine = new SyncEngine([provider], s.ctx.streams, s.ctx.notifier, s.ctx.ephemeral, async () => []);
    const filter = { room: { timeline: { limit: 1000 } } };
    const seen = new Set<string>();
    let since: SyncToken = engine.currentToken();
    let limited = false;
    let done = false;
    let reads = 0;
    const invitesSeen = new Set<string>();
    const invitedTo: string[] = [];
    const readOnce = async () => {
      const to = engine.currentToken();
      const res = await engine.compute({
        userId: reader.userId,
        deviceId: reader.deviceId,
        since,
        to,
        fullState: false,
        filter,
      });
      reads++;
      for (const id of Object.keys(res.rooms?.invite ?? {})) invitesSeen.add(id);
      for (const room of Object.values(res.rooms?.join ?? {})) {
        const tl = room.timeline as { events: { event_id: string }[]; limited: boolean };
        if (tl.limited) limited = true;
        for (const e of tl.events) seen.add(e.event_id);
      }
      since = to;
    };
    const readerLoop = (async () => {
      while (!done) {
        await readOnce();
        await new Promise((r) => setImmediate(r));
      }
    })();

    const total = 240;
    const sent: string[] = [];
    let next = 0;
    const worker = async () => {
      while (next < total) {
        const i = next++;
        const u = users[i % users.length]!;
        const roomId = roomIds[i % roomIds.length]!;
        const r = await s.call("PUT", `${V3}/rooms/${enc(roomId)}/send/m.room.message/c${i}`, {
          token: u.accessToken,
          body: { body: `msg ${i}` },
        });
        expect(r.status).toBe(200);
        sent.push(r.body.event_id as string);
      }
    };
    // Room creations take several positions in one transaction, interleaving with the sends.
    const creator = async () => {
      for (let i = 0; i < 8; i++) {
        const u = users[1 + (i % 3)]!;
        const c = await s.call("POST", `${V3}/createRoom`, {
          token: u.accessToken,
          body: { name: `side ${i}`, topic: "t", preset: "public_chat", invite: [reader.userId] },
        });
        expect(c.status).toBe(200);
        invitedTo.push(c.body.room_id as string);
      }
    };
    await Promise.all([...Array.from({ length: 24 }, worker), creator(), creator()]);
    done = true;
    await readerLoop;
    await readOnce();
    expect(limited).toBe(false);
    expect(reads).toBeGreaterThan(2);
    expect(sent).toHaveLength(total);
    const missing = sent.filter((id) => !seen.has(id));
    expect(missing).toEqual([]);
    // Membership changes (invites in multi-event room creations) are never skipped either.
    expect(invitedTo).toHaveLength(16);
    expect(invitedTo.filter((id) => !invitesSeen.has(id))).toEqual([]);
  });
});
