import { beforeAll, describe, expect, it } from "vitest";
import { DeliveryLogsRepository } from "../../companion-services/notifications/delivery/logs.repository.ts";
import { PushQueueRepository } from "../../companion-services/notifications/delivery/queue.repository.ts";
import { waitFor } from "../platform/helpers.ts";
import {
  addMessage,
  addPusher,
  type Db,
  deliveryHarness,
  enqueue,
  type FakeGateway,
  logsOf,
  type Pusher,
  queuedFor,
  worker,
} from "./delivery-helpers.ts";

describe("push queue: order, sharing and leases", () => {
  const h = deliveryHarness();
  const started = h.started;
  let db: Db;
  let second: Db;
  let gw: FakeGateway;
  beforeAll(() => {
    ({ db, second, gw } = h);
  });
  const eventIds = (p: Pusher) => gw.for(p.pushkey).map((r) => r.body.notification.event_id);

  it("holds a pusher's later rows while its first is in backoff; other pushers go on", async () => {
    const slow = await addPusher(db, gw);
    const fine = await addPusher(db, gw);
    const s = [await addMessage(db, slow, 1), await addMessage(db, slow, 2), await addMessage(db, slow, 3)];
    const f = await addMessage(db, fine, 1);
    let failures = 0;
    gw.reply = (r) =>
      r.pushkey === slow.pushkey && failures++ < 3
        ? { status: 503 }
        : { status: 200, body: { rejected: [] } };
    await enqueue(db, slow, [s[0].id, null, s[1].id, s[2].id]);
    await enqueue(db, fine, [f.id]);
    started(worker(db, { concurrency: 4, backoffMs: 150, backoffMaxMs: 300 }));
    await waitFor(async () => (await queuedFor(db, slow)).length === 0, 10_000, "the slow pusher drained");

    // The first row is sent until it goes through, and only then the badge and the others, in order.
    expect(eventIds(slow)).toEqual([
      s[0].eventId,
      s[0].eventId,
      s[0].eventId,
      s[0].eventId,
      undefined,
      s[1].eventId,
      s[2].eventId,
    ]);
    const firstSuccess = gw.for(slow.pushkey)[3].at;
    expect(gw.for(fine.pushkey)[0].at).toBeLessThan(firstSuccess);
    const statuses = (await logsOf(db, slow)).map((l) => l.status);
    expect(statuses).toEqual(["retry", "retry", "retry", "delivered", "delivered", "delivered", "delivered"]);
  });

  it("two workers (two connection pools) on one database deliver every row exactly once", async () => {
    const pushers: Pusher[] = [];
    const expected = new Set<string>();
    for (let i = 0; i < 8; i++) {
      const p = await addPusher(db, gw);
      pushers.push(p);
      const ids: string[] = [];
      for (let n = 0; n < 5; n++) {
        const m = await addMessage(db, p, n);
        ids.push(m.id);
        expected.add(m.eventId);
      }
      await enqueue(db, p, ids);
    }
    const before = gw.received.length;
    const a = started(worker(db, { concurrency: 3 }));
    const b = started(worker(second, { concurrency: 3 }));
    for (let i = 0; i < 5; i++) {
      a.wake();
      b.wake();
    }
    await waitFor(
      async () => (await db.selectFrom("push_queue").select("id").execute()).length === 0,
      15_000,
      "the queue drained",
    );
    const got = gw.received.slice(before).map((r) => String(r.body.notification.event_id));
    expect(got).toHaveLength(expected.size);
    expect(new Set(got)).toEqual(expected);
    for (const p of pushers) {
      // And each pusher's in the order they were queued.
      const order = eventIds(p).map((e) => Number(String(e).slice(3, String(e).indexOf("-"))));
      expect(order).toEqual([0, 1, 2, 3, 4]);
      expect((await logsOf(db, p)).map((l) => l.status)).toEqual(Array(5).fill("delivered"));
    }
  });

  it("delivers a row leased by a worker that died, once the lease runs out", async () => {
    const p = await addPusher(db, gw);
    const m = await addMessage(db, p, 1);
    await enqueue(db, p, [m.id]);
    // The dead worker: it claimed the row and never came back.
    const claimedAt = Date.now();
    const dead = await new PushQueueRepository(db).claim(claimedAt, 800, 10);
    expect(dead.map((d) => d.notificationId)).toEqual([m.id]);
    started(worker(db));
    await waitFor(async () => eventIds(p).length === 1, 5_000, "the delivery after the lease");
    expect(gw.for(p.pushkey)[0].at).toBeGreaterThanOrEqual(claimedAt + 800);
    await waitFor(async () => (await queuedFor(db, p)).length === 0, 5_000, "the row gone");
    expect((await logsOf(db, p)).map((l) => [l.status, l.attempt])).toEqual([["delivered", 1]]);
  });

  it("stop() waits for an in-flight POST, then hands back what it had to abort", async () => {
    const p = await addPusher(db, gw);
    const q = await addPusher(db, gw);
    const m = await addMessage(db, p, 1);
    const h = await addMessage(db, q, 1);
    gw.reply = (r) => (r.pushkey === q.pushkey ? "hang" : { status: 200, body: {} });
    await enqueue(db, p, [m.id]);
    await enqueue(db, q, [h.id]);
    const w = worker(db, { timeoutMs: 5_000 }, { stopGraceMs: 300 });
    w.start();
    await waitFor(() => eventIds(p).length === 1 && eventIds(q).length === 1, 5_000, "both POSTs sent");
    const t0 = Date.now();
    await w.stop();
    expect(Date.now() - t0).toBeLessThan(2_000);
    const left = await queuedFor(db, q);
    expect(left).toHaveLength(1);
    expect(left[0]).toMatchObject({ leased_until: null, attempt: 0 });
    expect(await logsOf(db, q)).toEqual([]);
    expect((await logsOf(db, p)).map((l) => l.status)).toEqual(["delivered"]);
  });

  it("wake() claims at once, without waiting for the poll", async () => {
    const p = await addPusher(db, gw);
    const w = started(worker(db, {}, { pollMs: 60_000 }));
    await new Promise((r) => setTimeout(r, 100));
    const m = await addMessage(db, p, 1);
    await enqueue(db, p, [m.id]);
    const t0 = Date.now();
    w.wake();
    await waitFor(() => eventIds(p).length === 1, 5_000, "the push");
    expect(Date.now() - t0).toBeLessThan(2_000);
  });

  it("prunes delivery logs older than the retention", async () => {
    const logs = new DeliveryLogsRepository(db);
    const base = {
      notificationId: null,
      userId: "@old:test.nova",
      appId: "a",
      pushkey: "prune-me",
      attempt: 1,
      status: "delivered" as const,
      httpStatus: 200,
      latencyMs: 1,
      error: null,
    };
    await logs.insert(db, { ...base, createdAt: Date.now() - 10 * 3_600_000 });
    await logs.insert(db, { ...base, createdAt: Date.now() });
    const w = worker(db, { logRetentionMs: 3_600_000 });
    expect(await w.prune()).toBeGreaterThanOrEqual(1);
    const left = await db
      .selectFrom("push_delivery_logs")
      .select("created_at")
      .where("pushkey", "=", "prune-me");
    expect(await left.execute()).toHaveLength(1);
    await w.stop();
  });
});
