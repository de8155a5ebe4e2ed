import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestServer, type TestServer } from "../helpers/server.ts";

const V3 = "/_matrix/client/v3";
type Account = { userId: string; deviceId: string; accessToken: string };
type ToDevice = { sender: string; type: string; content: Record<string, unknown> };

async function login(s: TestServer, userId: string, deviceId?: string): Promise<Account> {
  const r = await s.call("POST", `${V3}/login`, {
    body: {
      type: "m.login.password",
      identifier: { type: "m.id.user", user: userId },
      password: "correct horse battery staple",
      ...(deviceId ? { device_id: deviceId } : {}),
    },
  });
  expect(r.status).toBe(200);
  return { userId, deviceId: r.body.device_id as string, accessToken: r.body.access_token as string };
}

async function sync(s: TestServer, a: Account, since?: string, timeout = 0) {
  const q = new URLSearchParams({ timeout: String(timeout) });
  if (since) q.set("since", since);
  const r = await s.call("GET", `${V3}/sync?${q}`, { token: a.accessToken });
  expect(r.status).toBe(200);
  return {
    next: r.body.next_batch as string,
    events: ((r.body.to_device as { events: ToDevice[] } | undefined)?.events ?? []) as ToDevice[],
    body: r.body,
  };
}

let txn = 0;
function send(
  s: TestServer,
  from: Account,
  type: string,
  messages: Record<string, Record<string, unknown>>,
  txnId?: string,
) {
  return s.call("PUT", `${V3}/sendToDevice/${type}/${txnId ?? `t${++txn}`}`, {
    token: from.accessToken,
    body: { messages },
  });
}

describe("to-device messages", () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer();
  });
  afterAll(async () => {
    await s.close();
  });

  it("delivers per device and to every device with *, in order, with the sender from the token", async () => {
    const alice = await s.register();
    const bob1 = await s.register();
    const bob2 = await login(s, bob1.userId);
    const start1 = (await sync(s, bob1)).next;
    const start2 = (await sync(s, bob2)).next;
    expect(
      (await send(s, alice, "m.test", { [bob1.userId]: { [bob1.deviceId]: { n: 1, sender: "@forged:x" } } }))
        .status,
    ).toBe(200);
    expect((await send(s, alice, "m.test", { [bob1.userId]: { "*": { n: 2 } } })).status).toBe(200);
    expect((await send(s, alice, "m.test", { [bob1.userId]: { NOSUCHDEVICE: { n: 3 } } })).status).toBe(200);
    const got1 = await sync(s, bob1, start1);
    expect(got1.events).toEqual([
      { sender: alice.userId, type: "m.test", content: { n: 1, sender: "@forged:x" } },
      { sender: alice.userId, type: "m.test", content: { n: 2 } },
    ]);
    const got2 = await sync(s, bob2, start2);
    expect(got2.events).toEqual([{ sender: alice.userId, type: "m.test", content: { n: 2 } }]);
  });

  it("is idempotent on txnId per sender device and event type", async () => {
    const alice = await s.register();
    const alice2 = await login(s, alice.userId);
    const bob = await s.register();
    const start = (await sync(s, bob)).next;
    const msg = { [bob.userId]: { [bob.deviceId]: { hello: true } } };
    await Promise.all([send(s, alice, "m.a", msg, "same"), send(s, alice, "m.a", msg, "same")]);
    expect((await send(s, alice, "m.a", msg, "same")).body).toEqual({});
    await send(s, alice, "m.b", msg, "same"); // another path
    await send(s, alice2, "m.a", msg, "same"); // another device
    const got = await sync(s, bob, start);
    expect(got.events.map((e) => e.type)).toEqual(["m.a", "m.b", "m.a"]);
  });

  it("redelivers until the device syncs past a message, then never again", async () => {
    const alice = await s.register();
    const bob = await s.register();
    const start = (await sync(s, bob)).next;
    await send(s, alice, "m.test", { [bob.userId]: { [bob.deviceId]: { n: 1 } } });
    const first = await sync(s, bob, start);
    expect(first.events).toHaveLength(1);
    // The response was "lost": the same since gets the same message.
    const retry = await sync(s, bob, start);
    expect(retry.events).toEqual(first.events);
    await send(s, alice, "m.test", { [bob.userId]: { [bob.deviceId]: { n: 2 } } });
    const next = await sync(s, bob, retry.next);
    expect(next.events.map((e) => e.content.n)).toEqual([2]);
    const after = await sync(s, bob, next.next);
    expect(after.events).toEqual([]);
    // Even an old token cannot bring acknowledged messages back.
    expect((await sync(s, bob, start)).events).toEqual([]);
  });

  it("wakes a long-polling sync when a message arrives", async () => {
    const alice = await s.register();
    const bob = await s.register();
    const start = (await sync(s, bob)).next;
    const t0 = Date.now();
    const polling = sync(s, bob, start, 10_000);
    await new Promise((r) => setTimeout(r, 200));
    await send(s, alice, "m.wake", { [bob.userId]: { [bob.deviceId]: {} } });
    const got = await polling;
    expect(got.events.map((e) => e.type)).toEqual(["m.wake"]);
    expect(Date.now() - t0).toBeLessThan(5_000);
  });

  it("drops the inbox of a deleted device", async () => {
    const alice = await s.register();
    const bob = await s.register();
    await send(s, alice, "m.test", { [bob.userId]: { [bob.deviceId]: { n: 1 } } });
    await s.call("POST", `${V3}/logout`, { token: bob.accessToken });
    const again = await login(s, bob.userId, bob.deviceId);
    expect((await sync(s, again)).events).toEqual([]);
  });

  describe("bad input", () => {
    it("refuses an oversized message with 413 M_TOO_LARGE and queues none of the request", async () => {
      const alice = await s.register();
      const bob = await s.register();
      const carol = await s.register();
      const start = (await sync(s, bob)).next;
      const r = await send(s, alice, "m.big", {
        [carol.userId]: { [carol.deviceId]: { small: true } },
        [bob.userId]: { [bob.deviceId]: { blob: "x".repeat(70_000) } },
      });
      expect([r.status, r.body.errcode]).toEqual([413, "M_TOO_LARGE"]);
      expect((await sync(s, bob, start)).events).toEqual([]);
      expect((await sync(s, carol)).events).toEqual([]);
    });

    it("rejects malformed user ids and non-object contents", async () => {
      const alice = await s.register();
      const bad = await send(s, alice, "m.x", { "not-a-user": { D: {} } });
      expect([bad.status, bad.body.errcode]).toEqual([400, "M_INVALID_PARAM"]);
      const longTxn = await send(s, alice, "m.x", { [alice.userId]: { D: {} } }, "t".repeat(300));
      expect([longTxn.status, longTxn.body.errcode]).toEqual([400, "M_INVALID_PARAM"]);
      const shape = await send(s, alice, "m.x", {
        [alice.userId]: { D: "string" } as unknown as Record<string, unknown>,
      });
      expect([shape.status, shape.body.errcode]).toEqual([400, "M_BAD_JSON"]);
    });
  });
});

describe("to-device across a restart", () => {
  let dataDir: string | undefined;
  let dbUrl: string | undefined;
  const admin =
    process.env.DATABASE_URL && process.env.NOVA_TEST_BACKEND !== "pglite"
      ? process.env.DATABASE_URL
      : undefined;
  const dbName = `nova_restart_${process.pid}_${Date.now()}`;

  beforeAll(async () => {
    if (admin) {
      const c = new pg.Client({ connectionString: admin });
      await c.connect();
      await c.query(`CREATE DATABASE ${dbName}`);
      await c.end();
      const u = new URL(admin);
      u.pathname = `/${dbName}`;
      dbUrl = u.toString();
    } else {
      dataDir = mkdtempSync(path.join(tmpdir(), "nova-restart-"));
    }
  });
  afterAll(async () => {
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
    if (admin) {
      const c = new pg.Client({ connectionString: admin });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`);
      await c.end();
    }
  });

  const env = (): Record<string, string> => (dbUrl ? { DATABASE_URL: dbUrl } : { NOVA_DATA_DIR: dataDir! });

  it("survives a restart between send and delivery, and is not delivered after acknowledgement", async () => {
    const s1 = await startTestServer(env());
    const alice = await s1.register("alice");
    const bob = await s1.register("bob");
    const start = (await sync(s1, bob)).next;
    await send(s1, alice, "m.room.encrypted", { [bob.userId]: { [bob.deviceId]: { ciphertext: "opaque" } } });
    await s1.close();

    const s2 = await startTestServer(env());
    try {
      const got = await sync(s2, bob, start);
      expect(got.events).toEqual([
        { sender: alice.userId, type: "m.room.encrypted", content: { ciphertext: "opaque" } },
      ]);
      const acked = await sync(s2, bob, got.next);
      expect(acked.events).toEqual([]);
    } finally {
      await s2.close();
    }
    const s3 = await startTestServer(env());
    try {
      expect((await sync(s3, bob, start)).events).toEqual([]);
      expect((await sync(s3, bob)).events).toEqual([]);
    } finally {
      await s3.close();
    }
  });
});
