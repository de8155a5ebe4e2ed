import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TxnIdCache } from "../../server/rooms/caches/txn-ids.ts";
import type { Pdu } from "../../server/rooms/events.ts";
import { metricValue } from "../helpers/metrics.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";

const V3 = "/_matrix/client/v3";
const enc = encodeURIComponent;

type User = { userId: string; deviceId: string; accessToken: string };

/**
 * Sends into one room that queue up behind its lock are written together (write/send-queue.ts):
 * each keeps its own answer, its own txnId and its place in one chain of events.
 */
describe("concurrent sends into one room", () => {
  let s: TestServer;
  let users: User[];
  let roomId: string;
  beforeAll(async () => {
    s = await startTestServer();
    users = await Promise.all(["sq-alice", "sq-bob", "sq-carol", "sq-eve"].map((n) => s.register(n)));
    const c = await s.call("POST", `${V3}/createRoom`, {
      token: users[0]!.accessToken,
      body: { preset: "public_chat" },
    });
    roomId = c.body.room_id as string;
    for (const u of users.slice(1, 3)) {
      const j = await s.call("POST", `${V3}/join/${enc(roomId)}`, { token: u.accessToken, body: {} });
      expect(j.status).toBe(200);
    }
  });
  afterAll(async () => {
    await s.close();
  });

  const send = (u: User, txnId: string, body: string) =>
    s.call("PUT", `${V3}/rooms/${enc(roomId)}/send/m.room.message/${enc(txnId)}`, {
      token: u.accessToken,
      body: { msgtype: "m.text", body },
    });

  /** The room's events in stream order; each must point at the one before it. */
  async function chain(): Promise<{ eventId: string; position: number; pdu: Pdu }[]> {
    const rows = await s.rooms.repo.page(roomId, { from: 0, dir: "f", limit: 1000 });
    const events = rows.map((r) => ({
      eventId: r.event_id,
      position: r.stream_position,
      pdu: JSON.parse(r.pdu) as Pdu,
    }));
    for (let i = 1; i < events.length; i++) {
      expect(events[i]!.position).toBeGreaterThan(events[i - 1]!.position);
      expect(events[i]!.pdu.prev_events).toEqual([events[i - 1]!.eventId]);
      expect(events[i]!.pdu.depth).toBe(events[i - 1]!.pdu.depth + 1);
    }
    return events;
  }

  it("answers each send, refuses only the non-member and writes each txnId once, in one chain", async () => {
    const batches = await metricValue("nova_rooms_send_batch_size_count");
    const sends = await metricValue("nova_rooms_send_batch_size_sum");
    const requests: { user: number; txnId: string; retry: boolean }[] = [];
    for (let i = 0; i < 10; i++) {
      for (let u = 0; u < 4; u++) {
        requests.push({ user: u, txnId: `q${i}`, retry: false });
        // Some sends are retried while the first request is still under way.
        if (i % 3 === 0) requests.push({ user: u, txnId: `q${i}`, retry: true });
      }
    }
    const answers = await Promise.all(
      requests.map(async (r) => ({ ...r, res: await send(users[r.user]!, r.txnId, `${r.user}:${r.txnId}`) })),
    );
    const byKey = new Map<string, string>();
    for (const a of answers) {
      if (a.user === 3) {
        expect(a.res.status).toBe(403);
        expect(a.res.body.errcode).toBe("M_FORBIDDEN");
        continue;
      }
      expect(a.res.status).toBe(200);
      const id = a.res.body.event_id as string;
      const key = `${a.user}/${a.txnId}`;
      // Each (device, txnId) yields exactly one event, whichever request wrote it.
      if (byKey.has(key)) expect(id).toBe(byKey.get(key));
      else byKey.set(key, id);
    }
    expect(byKey.size).toBe(30);
    expect(new Set(byKey.values()).size).toBe(30);
    // Under this load sends queued behind the room's lock and were written together.
    expect((await metricValue("nova_rooms_send_batch_size_sum")) - sends).toBeGreaterThan(
      (await metricValue("nova_rooms_send_batch_size_count")) - batches,
    );

    const events = await chain();
    const messages = events.filter((e) => e.pdu.type === "m.room.message");
    expect(messages.map((e) => e.eventId).sort()).toEqual([...byKey.values()].sort());
    for (const m of messages) {
      const [user, txnId] = String(m.pdu.content.body).split(":");
      expect(byKey.get(`${user}/${txnId}`)).toBe(m.eventId);
    }

    // /messages shows each once, in stream (= chain) order.
    const page = await s.call("GET", `${V3}/rooms/${enc(roomId)}/messages?dir=f&limit=1000`, {
      token: users[0]!.accessToken,
    });
    expect(page.status).toBe(200);
    const chunk = page.body.chunk as { event_id: string; type: string }[];
    expect(chunk.filter((e) => e.type === "m.room.message").map((e) => e.event_id)).toEqual(
      messages.map((e) => e.eventId),
    );
    // And a sync sees the same timeline as the database.
    const sync = await s.call(
      "GET",
      `${V3}/sync?filter=${enc(JSON.stringify({ room: { timeline: { limit: 100 } } }))}`,
      {
        token: users[1]!.accessToken,
      },
    );
    const joined = (
      sync.body.rooms as { join: Record<string, { timeline: { events: { event_id: string }[] } }> }
    ).join[roomId]!;
    const tail = joined.timeline.events.map((e) => e.event_id);
    expect(tail).toEqual(events.slice(-tail.length).map((e) => e.eventId));
  });

  it("answers a retry whose txnId is only in the database from it, with the others of its batch written", async () => {
    const before = (await chain()).length;
    const first = await send(users[1]!, "stored", "stored once");
    expect(first.status).toBe(200);
    // As after a restart or an eviction: the txnId is known to the database only.
    (s.rooms as unknown as { core: { txnIds: TxnIdCache } }).core.txnIds = new TxnIdCache();
    const answers = await Promise.all([
      ...Array.from({ length: 8 }, (_, i) => send(users[0]!, `after${i}`, `after ${i}`)),
      send(users[1]!, "stored", "stored once"),
      ...Array.from({ length: 8 }, (_, i) => send(users[2]!, `after${i}`, `after ${i}`)),
    ]);
    for (const a of answers) expect(a.status).toBe(200);
    expect(answers[8]!.body.event_id).toBe(first.body.event_id);
    const events = await chain();
    expect(events.length).toBe(before + 1 + 16);
    expect(new Set(answers.map((a) => a.body.event_id)).size).toBe(17);
  });
});
