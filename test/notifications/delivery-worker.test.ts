import { beforeAll, describe, expect, it } from "vitest";
import { metricValue } from "../helpers/metrics.ts";
import { waitFor } from "../platform/helpers.ts";
import {
  addMessage,
  addPusher,
  addSocial,
  type Db,
  deliveryHarness,
  enqueue,
  type FakeGateway,
  logsOf,
  queuedFor,
  worker,
} from "./delivery-helpers.ts";

describe("push delivery worker against a real gateway", () => {
  const h = deliveryHarness();
  const started = h.started;
  let db: Db;
  let gw: FakeGateway;
  beforeAll(() => {
    ({ db, gw } = h);
  });

  it("POSTs the full, event_id_only, badge-only and social payloads and logs each delivery", async () => {
    const full = await addPusher(db, gw, { app: "x" });
    const idOnly = await addPusher(db, gw, { format: "event_id_only" });
    const m1 = await addMessage(db, full, 1);
    const m2 = await addMessage(db, idOnly, 2);
    const follow = await addSocial(db, full, "follows", { follower: "@bob:test.nova" });
    await enqueue(db, full, [m1.id, null, follow]);
    await enqueue(db, idOnly, [m2.id]);
    const before = await metricValue("nova_push_deliveries_total", { outcome: "delivered" });
    started(worker(db, {}, { badgeOf: async (u) => (u === full.userId ? 7 : 2) }));
    await waitFor(() => gw.received.length >= 4, 10_000, "four pushes");

    const [event, badge, social] = gw.for(full.pushkey).map((r) => r.body.notification);
    expect(event).toMatchObject({
      event_id: m1.eventId,
      room_id: "!room:test.nova",
      type: "m.room.message",
      sender: "@bob:test.nova",
      sender_display_name: "Bob",
      room_name: "Lounge",
      prio: "high",
      content: { msgtype: "m.text", body: "message 1" },
      counts: { unread: 7 },
    });
    expect(event.devices).toEqual([
      {
        app_id: full.appId,
        pushkey: full.pushkey,
        pushkey_ts: 1_700_000_000,
        data: { app: "x" },
        tweaks: { sound: "default" },
      },
    ]);
    expect(badge).toEqual({
      id: "",
      type: null,
      sender: "",
      counts: { unread: 7 },
      devices: [{ app_id: full.appId, pushkey: full.pushkey, pushkey_ts: 1_700_000_000, data: { app: "x" } }],
    });
    expect(social).toMatchObject({
      id: follow,
      type: "nova.follows",
      content: { follower: "@bob:test.nova" },
      prio: "high",
      counts: { unread: 7 },
    });
    expect(gw.for(idOnly.pushkey)[0].body.notification).toEqual({
      event_id: m2.eventId,
      room_id: "!room:test.nova",
      counts: { unread: 2 },
      prio: "high",
      devices: [
        {
          app_id: idOnly.appId,
          pushkey: idOnly.pushkey,
          pushkey_ts: 1_700_000_000,
          data: { format: "event_id_only" },
        },
      ],
    });
    await waitFor(async () => (await queuedFor(db, full)).length === 0, 5_000, "queue drained");
    const logs = await logsOf(db, full);
    expect(logs.map((l) => [l.notification_id, l.status, l.attempt, l.http_status])).toEqual([
      [m1.id, "delivered", 1, 200],
      [null, "delivered", 1, 200],
      [follow, "delivered", 1, 200],
    ]);
    expect(logs.every((l) => l.latency_ms !== null && l.latency_ms >= 0)).toBe(true);
    expect(await metricValue("nova_push_deliveries_total", { outcome: "delivered" })).toBeGreaterThanOrEqual(
      before + 4,
    );
  });

  it("deletes a rejected pusher and its queued rows, and logs `rejected`", async () => {
    const p = await addPusher(db, gw);
    const a = await addMessage(db, p, 1);
    const b = await addMessage(db, p, 2);
    await enqueue(db, p, [a.id, b.id]);
    gw.reply = (r) => ({ status: 200, body: { rejected: [r.pushkey] } });
    started(worker(db));
    await waitFor(async () => (await logsOf(db, p)).length === 1, 5_000, "the rejection logged");
    await waitFor(async () => (await queuedFor(db, p)).length === 0, 5_000, "the queue emptied");
    const pusher = await db.selectFrom("push_tokens").selectAll().where("pushkey", "=", p.pushkey).execute();
    expect(pusher).toEqual([]);
    expect(gw.for(p.pushkey)).toHaveLength(1);
    expect((await logsOf(db, p)).map((l) => l.status)).toEqual(["rejected"]);
  });

  it("drops a row whose pusher is gone without a POST", async () => {
    const p = await addPusher(db, gw);
    const m = await addMessage(db, p, 1);
    await enqueue(db, p, [m.id]);
    await db.deleteFrom("push_tokens").where("pushkey", "=", p.pushkey).execute();
    started(worker(db));
    await waitFor(async () => (await queuedFor(db, p)).length === 0, 5_000, "the orphan deleted");
    expect(gw.for(p.pushkey)).toEqual([]);
  });

  it("retries a 503 with growing backoff, logging each attempt, then delivers", async () => {
    const p = await addPusher(db, gw);
    const m = await addMessage(db, p, 1);
    const failUntil = Date.now() + 2_000;
    gw.reply = () => (Date.now() < failUntil ? { status: 503 } : { status: 200, body: { rejected: [] } });
    await enqueue(db, p, [m.id]);
    let badge = 0;
    started(worker(db, { backoffMs: 100, backoffMaxMs: 800 }, { badgeOf: async () => ++badge }));
    await waitFor(
      async () => (await logsOf(db, p)).some((l) => l.status === "delivered"),
      10_000,
      "delivered",
    );
    const logs = await logsOf(db, p);
    const retries = logs.filter((l) => l.status === "retry");
    expect(retries.length).toBeGreaterThanOrEqual(3);
    expect(retries.every((l) => l.http_status === 503)).toBe(true);
    expect(logs.map((l) => l.attempt)).toEqual(logs.map((_, i) => i + 1));
    expect(logs.at(-1)).toMatchObject({ status: "delivered", http_status: 200 });
    // Each wait is at least 3/4 of 100·2^(n−1) ms, capped at 800.
    const at = gw.for(p.pushkey).map((r) => r.at);
    for (let i = 1; i < at.length; i++)
      expect(at[i] - at[i - 1]).toBeGreaterThanOrEqual(Math.min(800, 100 * 2 ** (i - 1)) * 0.75 - 20);
    expect(at[3] - at[2]).toBeGreaterThan(at[1] - at[0]);
    // The badge is read again for each attempt, so the delivered push carries the current count.
    const counts = gw.for(p.pushkey).map((r) => (r.body.notification.counts as { unread: number }).unread);
    expect(counts).toEqual(counts.map((_, i) => i + 1));
    expect(await queuedFor(db, p)).toEqual([]);
    const pusher = await db
      .selectFrom("push_tokens")
      .select("failing_since")
      .where("pushkey", "=", p.pushkey);
    expect((await pusher.executeTakeFirstOrThrow()).failing_since).toBeNull();
  });

  it("marks the pusher failing while it retries", async () => {
    const p = await addPusher(db, gw);
    const m = await addMessage(db, p, 1);
    gw.reply = () => ({ status: 502 });
    await enqueue(db, p, [m.id]);
    started(worker(db));
    await waitFor(async () => (await logsOf(db, p)).length >= 1, 5_000, "a retry");
    const row = await db.selectFrom("push_tokens").select("failing_since").where("pushkey", "=", p.pushkey);
    expect((await row.executeTakeFirstOrThrow()).failing_since).not.toBeNull();
  });

  it("gives up after giveUpMs and drops the row", async () => {
    const p = await addPusher(db, gw);
    const m = await addMessage(db, p, 1);
    gw.reply = () => ({ status: 500 });
    await enqueue(db, p, [m.id]);
    started(worker(db, { giveUpMs: 600, backoffMs: 100, backoffMaxMs: 200 }));
    await waitFor(async () => (await logsOf(db, p)).some((l) => l.status === "gave_up"), 5_000, "gave up");
    const statuses = (await logsOf(db, p)).map((l) => l.status);
    expect(statuses.at(-1)).toBe("gave_up");
    expect(statuses.slice(0, -1).every((s) => s === "retry")).toBe(true);
    expect(await queuedFor(db, p)).toEqual([]);
  });

  it("counts a timeout as retryable", async () => {
    const p = await addPusher(db, gw);
    const m = await addMessage(db, p, 1);
    let calls = 0;
    gw.reply = (r) => (r.pushkey === p.pushkey && ++calls === 1 ? "hang" : { status: 200, body: {} });
    await enqueue(db, p, [m.id]);
    started(worker(db, { timeoutMs: 300 }));
    await waitFor(
      async () => (await logsOf(db, p)).some((l) => l.status === "delivered"),
      5_000,
      "delivered",
    );
    const logs = await logsOf(db, p);
    expect(logs.map((l) => [l.status, l.http_status])).toEqual([
      ["retry", null],
      ["delivered", 200],
    ]);
    expect(logs[0].error).toMatch(/timeout/);
  });

  it("retries 429, 408 and a refused connection", async () => {
    const limited = await addPusher(db, gw);
    const slow = await addPusher(db, gw);
    const dead = await addPusher(db, gw, { url: "http://127.0.0.1:9/_matrix/push/v1/notify" });
    const seen = new Map<string, number>();
    gw.reply = (r) => {
      const n = (seen.get(r.pushkey) ?? 0) + 1;
      seen.set(r.pushkey, n);
      if (n > 1) return { status: 200, body: {} };
      return { status: r.pushkey === limited.pushkey ? 429 : 408 };
    };
    for (const p of [limited, slow, dead]) await enqueue(db, p, [(await addMessage(db, p, 1)).id]);
    started(worker(db));
    for (const p of [limited, slow])
      await waitFor(async () => (await logsOf(db, p)).length === 2, 5_000, "a retry, then delivery");
    expect((await logsOf(db, limited)).map((l) => [l.status, l.http_status])).toEqual([
      ["retry", 429],
      ["delivered", 200],
    ]);
    expect((await logsOf(db, slow)).map((l) => [l.status, l.http_status])).toEqual([
      ["retry", 408],
      ["delivered", 200],
    ]);
    await waitFor(async () => (await logsOf(db, dead)).length >= 2, 5_000, "retries of the refused one");
    const refused = await logsOf(db, dead);
    expect(refused.every((l) => l.status === "retry" && l.http_status === null)).toBe(true);
    expect(refused[0].error).toMatch(/ECONNREFUSED/);
    expect(await queuedFor(db, dead)).toHaveLength(1);
  });

  it("drops a row on another 4xx, logged `failed`", async () => {
    const p = await addPusher(db, gw);
    const m = await addMessage(db, p, 1);
    gw.reply = () => ({ status: 400, body: { error: "bad" } });
    await enqueue(db, p, [m.id]);
    started(worker(db));
    await waitFor(async () => (await logsOf(db, p)).length === 1, 5_000, "failed");
    expect((await logsOf(db, p))[0]).toMatchObject({ status: "failed", http_status: 400, attempt: 1 });
    expect(await queuedFor(db, p)).toEqual([]);
  });
});
