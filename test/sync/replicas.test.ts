import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freshDatabase, type ServerProcess, startServerProcess } from "../helpers/process.ts";
import { syncClient, timeline } from "./ws-helpers.ts";

/**
 * Two homeserver processes (`node --import tsx server/main.ts`) on one fresh PostgreSQL database
 * and one Redis: sockets on either replica get the writes made on the other, and when one replica
 * is SIGKILLed its clients resume on the other without losing anything.
 */
const redisUrl = process.env.REDIS_URL;
const pgUrl = process.env.DATABASE_URL;
const V3 = "/_matrix/client/v3";

type Account = { userId: string; deviceId: string; accessToken: string };

async function call(base: string, method: string, path: string, token?: string, body?: unknown) {
  const res = await fetch(base + path, {
    method,
    headers: { ...(token ? { Authorization: `Bearer ${token}` } : {}), "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

async function register(base: string, name: string): Promise<Account> {
  const r = await call(base, "POST", `${V3}/register`, undefined, {
    username: name,
    password: "replica test password",
    auth: { type: "m.login.dummy" },
  });
  if (r.status !== 200) throw new Error(JSON.stringify(r.body));
  return {
    userId: r.body.user_id as string,
    deviceId: r.body.device_id as string,
    accessToken: r.body.access_token as string,
  };
}

/** The users in the room's latest m.typing event across the deltas (empty when none). */
function typers(deltas: Record<string, unknown>[], roomId: string): string[] {
  let last: string[] = [];
  for (const d of deltas) {
    const room = (
      d.rooms as {
        join?: Record<
          string,
          { ephemeral?: { events?: { type: string; content: { user_ids?: string[] } }[] } }
        >;
      }
    )?.join?.[roomId];
    for (const e of room?.ephemeral?.events ?? []) if (e.type === "m.typing") last = e.content.user_ids ?? [];
  }
  return last;
}

describe.skipIf(!redisUrl || !pgUrl)("replicas over Redis fan-out (needs REDIS_URL and DATABASE_URL)", () => {
  let db: { url: string; drop(): Promise<void> };
  let r1: ServerProcess;
  let r2: ServerProcess;

  beforeAll(async () => {
    db = (await freshDatabase())!;
    const env = { DATABASE_URL: db.url, REDIS_URL: redisUrl! };
    // One after the other: the first applies the migrations.
    r1 = await startServerProcess(env);
    r2 = await startServerProcess(env);
  }, 120_000);
  let r1Killed = false;
  let r2Stopped = false;
  afterAll(async () => {
    if (!r1Killed) await r1?.stop("SIGKILL");
    if (!r2Stopped) await r2?.stop("SIGTERM");
    await db?.drop();
  });

  it("delivers both ways, and a SIGKILLed replica's clients resume on the other without loss", async () => {
    const alice = await register(r1.baseUrl, `alice_${Date.now()}`);
    const bob = await register(r2.baseUrl, `bob_${Date.now()}`);
    const created = await call(r1.baseUrl, "POST", `${V3}/createRoom`, alice.accessToken, {
      preset: "private_chat",
      invite: [bob.userId],
    });
    const roomId = created.body.room_id as string;
    expect(
      (await call(r2.baseUrl, "POST", `${V3}/rooms/${encodeURIComponent(roomId)}/join`, bob.accessToken, {}))
        .status,
    ).toBe(200);

    // Alice on replica 1 (with replica 2 as the fallback a load balancer would give her), Bob on 2.
    const a = await syncClient({ baseUrl: [r1.baseUrl, r2.baseUrl], accessToken: alice.accessToken });
    const b = await syncClient({ baseUrl: r2.baseUrl, accessToken: bob.accessToken });
    await a.waitFor(() => true);
    await b.waitFor(() => true);

    const fromAlice = (await a.client.sendEvent(roomId, "m.room.message", { msgtype: "m.text", body: "1→2" }))
      .event_id;
    await b.waitFor(() => timeline(b.deltas, roomId).some((e) => e.event_id === fromAlice), 10_000);
    const fromBob = (await b.client.sendEvent(roomId, "m.room.message", { msgtype: "m.text", body: "2→1" }))
      .event_id;
    await a.waitFor(() => timeline(a.deltas, roomId).some((e) => e.event_id === fromBob), 10_000);

    // Typing and presence are in memory on each replica: shared over Redis, they reach the other.
    await a.client.setTyping(roomId, true, 30_000);
    await b.waitFor(() => typers(b.deltas, roomId).includes(alice.userId), 10_000);
    await a.client.setTyping(roomId, false);
    await b.waitFor(() => typers(b.deltas, roomId).length === 0, 10_000);
    const presence = await call(
      r2.baseUrl,
      "PUT",
      `${V3}/presence/${encodeURIComponent(bob.userId)}/status`,
      bob.accessToken,
      { presence: "unavailable", status_msg: "on replica 2" },
    );
    expect(presence.status).toBe(200);
    await a.waitFor(
      () =>
        a.deltas.some((d) =>
          (
            (d.presence as { events?: { sender: string; content: { status_msg?: string } }[] })?.events ?? []
          ).some((e) => e.sender === bob.userId && e.content.status_msg === "on replica 2"),
        ),
      10_000,
    );
    // Asked on replica 1, Bob's presence is what he set on replica 2.
    const seen = await call(
      r1.baseUrl,
      "GET",
      `${V3}/presence/${encodeURIComponent(bob.userId)}/status`,
      alice.accessToken,
    );
    expect(seen.body).toMatchObject({ presence: "unavailable", status_msg: "on replica 2" });

    // A membership made on replica 1 reaches Bob's socket on replica 2 (his cached rooms there are
    // dropped by the fan-out), and his join on replica 2 lets him see the room's messages.
    const second = await call(r1.baseUrl, "POST", `${V3}/createRoom`, alice.accessToken, {
      preset: "private_chat",
      invite: [bob.userId],
    });
    const room2 = second.body.room_id as string;
    await b.waitFor(
      () => b.deltas.some((d) => Boolean((d.rooms as { invite?: Record<string, unknown> })?.invite?.[room2])),
      10_000,
    );
    expect(
      (await call(r2.baseUrl, "POST", `${V3}/rooms/${encodeURIComponent(room2)}/join`, bob.accessToken, {}))
        .status,
    ).toBe(200);
    const inRoom2 = (await a.client.sendEvent(room2, "m.room.message", { msgtype: "m.text", body: "room 2" }))
      .event_id;
    await b.waitFor(() => timeline(b.deltas, room2).some((e) => e.event_id === inRoom2), 10_000);

    // Replica 1 dies without a word; Bob keeps talking on replica 2.
    let aliceClose = 0;
    a.client.onClose(({ code }) => {
      aliceClose = code;
    });
    await r1.stop("SIGKILL");
    r1Killed = true;
    const sent: string[] = [fromBob];
    for (let i = 0; i < 5; i++) {
      sent.push(
        (await b.client.sendEvent(roomId, "m.room.message", { msgtype: "m.text", body: `after ${i}` }))
          .event_id,
      );
    }
    await a.waitFor(
      () => sent.every((id) => timeline(a.deltas, roomId).some((e) => e.event_id === id)),
      20_000,
    );
    expect(aliceClose).toBe(1006);
    const ids = timeline(a.deltas, roomId)
      .map((e) => e.event_id as string)
      .filter((id) => sent.includes(id));
    expect(ids).toEqual(sent);
    // And Alice's sends now go through replica 2.
    const late = (await a.client.sendEvent(roomId, "m.room.message", { msgtype: "m.text", body: "back" }))
      .event_id;
    await b.waitFor(() => timeline(b.deltas, roomId).some((e) => e.event_id === late), 10_000);
    a.client.close();
    b.client.close();
    // Replica 2 shuts down gracefully within a bounded time on SIGTERM.
    const t = Date.now();
    expect(await r2.stop("SIGTERM", { keepData: false })).toBe(0);
    expect(Date.now() - t).toBeLessThan(15_000);
    r2Stopped = true;
  }, 90_000);
});
