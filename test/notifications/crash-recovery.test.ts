import { describe, expect, it } from "vitest";
import { distributedBackends, startDistributed } from "../e2e/distributed.ts";
import { PushGateway } from "../helpers/push-gateway.ts";
import { waitFor } from "../helpers/wait.ts";

const N = 1_000;

async function call(
  baseUrl: string,
  method: string,
  path: string,
  token: string | null,
  body?: unknown,
): Promise<Record<string, unknown>> {
  const res = await fetch(baseUrl + path, {
    method,
    headers: { "Content-Type": "application/json", ...(token ? { Authorization: `Bearer ${token}` } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const json = (await res.json()) as Record<string, unknown>;
  if (res.status !== 200) throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(json)}`);
  return json;
}

/**
 * SIGKILL the notifications process while 1,000 notifications are pending (the gateway is down,
 * so every one is queued or still on Kafka): after a restart every one is delivered, and none
 * twice — the consumer's inbox and the dedup window absorb Kafka's redelivery, and the queue's
 * rows survive the kill.
 */
if (!distributedBackends)
  console.log("crash-recovery.test: skipped, needs DATABASE_URL and KAFKA_BROKERS (CI starts both)");

describe.skipIf(!distributedBackends)("notifications killed with 1,000 pending", () => {
  it("delivers every one after a restart, none twice", async () => {
    const gateway = new PushGateway();
    await gateway.start();
    const port = gateway.port;
    const d = await startDistributed({
      media: false,
      notifications: true,
      notificationsEnv: { NOVA_PUSH_BACKOFF_MS: "200", NOVA_PUSH_BACKOFF_MAX_MS: "1000" },
    });
    try {
      const reg = (u: string) =>
        call(d.baseUrl, "POST", "/_matrix/client/v3/register", null, {
          username: u,
          password: "crash test password",
          auth: { type: "m.login.dummy" },
        });
      const alice = (await reg("alice")).access_token as string;
      const aliceId = "@alice:localhost";
      const bob = (await reg("bob")).access_token as string;
      await call(d.baseUrl, "POST", "/_matrix/client/v3/pushers/set", alice, {
        kind: "http",
        app_id: "org.nova.test",
        pushkey: "alice-phone",
        app_display_name: "Nova",
        device_display_name: "phone",
        lang: "en",
        data: { url: gateway.url, format: "event_id_only" },
      });
      const roomId = (
        await call(d.baseUrl, "POST", "/_matrix/client/v3/createRoom", bob, { invite: [aliceId] })
      ).room_id as string;
      await call(d.baseUrl, "POST", `/_matrix/client/v3/join/${roomId}`, alice, {});
      await gateway.stop();

      const sent: string[] = [];
      for (let i = 0; i < N; i += 25) {
        const batch = await Promise.all(
          Array.from({ length: Math.min(25, N - i) }, (_, j) =>
            call(d.baseUrl, "PUT", `/_matrix/client/v3/rooms/${roomId}/send/m.room.message/c${i + j}`, bob, {
              msgtype: "m.text",
              body: `message ${i + j}`,
            }),
          ),
        );
        sent.push(...batch.map((b) => b.event_id as string));
      }
      await new Promise((r) => setTimeout(r, 300));
      await d.notifications!.stop("SIGKILL");
      await gateway.start(port);
      await d.restartNotifications();

      await waitFor(
        `all ${N} notifications delivered`,
        () => sent.every((id) => gateway.forEvent(id).length > 0),
        120_000,
      );
      // Anything still retried or redelivered would arrive within a few backoff periods.
      await new Promise((r) => setTimeout(r, 3_000));
      const twice = sent.filter((id) => gateway.forEvent(id).length > 1);
      expect(twice).toEqual([]);
      const mine = new Set(sent);
      expect(gateway.received.filter((n) => mine.has(n.notification.event_id ?? "")).length).toBe(N);
    } finally {
      await d.stop();
      await gateway.stop();
    }
  }, 240_000);
});
