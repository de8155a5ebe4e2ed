import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { NotificationsTables } from "../../companion-services/notifications/tables.ts";
import { PushGateway } from "../helpers/push-gateway.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { waitFor } from "../helpers/wait.ts";

/**
 * The push gateway is down for 30 s: the delivery is retried with growing, jittered delays, each
 * attempt is a delivery-log row, and it lands once the gateway is back.
 */
describe("a push gateway down for 30 s", () => {
  let s: TestServer;
  const gateway = new PushGateway();

  beforeAll(async () => {
    await gateway.start();
    s = await startTestServer({ NOVA_PUSH_BACKOFF_MS: "500", NOVA_PUSH_BACKOFF_MAX_MS: "8000" });
  });
  afterAll(async () => {
    await s?.close();
    await gateway.stop();
  });

  it("retries with backoff, logs each attempt, then delivers once", async () => {
    const alice = await s.register("alice");
    const bob = await s.register("bob");
    const set = await s.call("POST", "/_matrix/client/v3/pushers/set", {
      token: alice.accessToken,
      body: {
        kind: "http",
        app_id: "org.nova.test",
        pushkey: "alice-phone",
        app_display_name: "Nova",
        device_display_name: "phone",
        lang: "en",
        data: { url: gateway.url },
      },
    });
    expect(set.status).toBe(200);
    const room = await s.call("POST", "/_matrix/client/v3/createRoom", {
      token: bob.accessToken,
      body: { invite: [alice.userId] },
    });
    const roomId = room.body.room_id as string;
    await s.call("POST", `/_matrix/client/v3/join/${roomId}`, { token: alice.accessToken, body: {} });

    // The invite's push and the badge update of alice's join go out first: the message is then
    // the only delivery in the pusher's queue (a pusher's deliveries go in order).
    const db = s.ctx.databases.get<NotificationsTables>("notifications").db;
    await waitFor("the badge update of alice's join", () => gateway.badges().length > 0);
    await waitFor("an empty push queue", async () => {
      const left = await db
        .selectFrom("push_queue")
        .select(db.fn.countAll().as("n"))
        .executeTakeFirstOrThrow();
      return Number(left.n) === 0;
    });
    const port = gateway.port;
    await gateway.stop();
    const down = Date.now();
    const sent = await s.call("PUT", `/_matrix/client/v3/rooms/${roomId}/send/m.room.message/t1`, {
      token: bob.accessToken,
      body: { msgtype: "m.text", body: "are you up?" },
    });
    const eventId = sent.body.event_id as string;
    await new Promise((r) => setTimeout(r, 30_000 - (Date.now() - down)));
    await gateway.start(port);
    await waitFor("the delivery after the outage", () => gateway.forEvent(eventId).length > 0, 20_000);
    await new Promise((r) => setTimeout(r, 1_000));
    expect(gateway.forEvent(eventId)).toHaveLength(1);

    const logs = await db
      .selectFrom("push_delivery_logs")
      .innerJoin("notifications", "notifications.id", "push_delivery_logs.notification_id")
      .select(["push_delivery_logs.attempt", "push_delivery_logs.status", "push_delivery_logs.created_at"])
      .where("notifications.event_id", "=", eventId)
      .orderBy("push_delivery_logs.id")
      .execute();
    const statuses = logs.map((l) => l.status);
    expect(statuses[statuses.length - 1]).toBe("delivered");
    expect(statuses.slice(0, -1).every((x) => x === "retry")).toBe(true);
    // 500 ms doubling to an 8 s cap over 30 s: at least five failed tries, far fewer than polling would make.
    expect(statuses.length).toBeGreaterThanOrEqual(6);
    expect(statuses.length).toBeLessThan(15);
    expect(logs.map((l) => l.attempt)).toEqual(logs.map((_, i) => i + 1));
    const gaps = logs.slice(1).map((l, i) => Number(l.created_at) - Number(logs[i]!.created_at));
    // Backoff grows: the later gaps are longer than the first ones.
    expect(Math.max(...gaps.slice(-3))).toBeGreaterThan(gaps[0]! * 2);
  }, 90_000);
});
