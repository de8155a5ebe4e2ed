import { randomBytes } from "node:crypto";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestServer, type TestServer } from "../helpers/server.ts";

const V3 = "/_matrix/client/v3";
const enc = encodeURIComponent;
const adminUrl = process.env.DATABASE_URL;
const onPostgres = Boolean(adminUrl) && process.env.NOVA_TEST_BACKEND !== "pglite";

/**
 * Two homeserver instances writing the same rooms in one PostgreSQL database, with no fan-out
 * between them: each one's cached room state goes stale, and every write must still be authorised
 * on current state and extend one linear history (the room head's compare-and-swap).
 */
describe.skipIf(!onPostgres)("rooms written by two homeserver processes (needs DATABASE_URL)", () => {
  let a: TestServer;
  let b: TestServer;
  let dbName = "";
  beforeAll(async () => {
    dbName = `nova_rep_${randomBytes(5).toString("hex")}`;
    const c = new pg.Client({ connectionString: adminUrl });
    await c.connect();
    await c.query(`CREATE DATABASE ${dbName}`);
    await c.end();
    const u = new URL(adminUrl!);
    u.pathname = `/${dbName}`;
    a = await startTestServer({ DATABASE_URL: u.toString() });
    b = await startTestServer({ DATABASE_URL: u.toString() });
  });
  afterAll(async () => {
    await a?.close();
    await b?.close();
    const c = new pg.Client({ connectionString: adminUrl });
    await c.connect();
    await c.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`);
    await c.end();
  });

  it("authorises on fresh state and keeps one linear history", { timeout: 90_000 }, async () => {
    const alice = await a.register("alice");
    const bob = await b.register("bob");
    const created = await a.call("POST", `${V3}/createRoom`, {
      token: alice.accessToken,
      body: { preset: "public_chat" },
    });
    const roomId = created.body.room_id as string;
    // A caches the room; bob joins through B, then talks through A at once.
    await a.call("GET", `${V3}/rooms/${enc(roomId)}/state`, { token: alice.accessToken });
    expect(
      (await b.call("POST", `${V3}/join/${enc(roomId)}`, { token: bob.accessToken, body: {} })).status,
    ).toBe(200);
    const viaA = await a.call("PUT", `${V3}/rooms/${enc(roomId)}/send/m.room.message/x1`, {
      token: bob.accessToken,
      body: { body: "bob via A" },
    });
    expect(viaA.status, JSON.stringify(viaA.body)).toBe(200);
    const read = await a.call("GET", `${V3}/rooms/${enc(roomId)}/messages?dir=b&limit=5`, {
      token: bob.accessToken,
    });
    expect(read.status).toBe(200);

    // Both processes send concurrently into the room.
    const sends = await Promise.all(
      Array.from({ length: 30 }, (_, i) => {
        const [server, user] = i % 2 === 0 ? [a, alice] : [b, bob];
        return server.call("PUT", `${V3}/rooms/${enc(roomId)}/send/m.room.message/c${i}`, {
          token: user.accessToken,
          body: { body: `c${i}` },
        });
      }),
    );
    expect(sends.map((r) => r.status)).toEqual(sends.map(() => 200));

    // The history is one chain: every event names the one before it in stream order. (Read from the
    // database: without fan-out neither process knows how far the other's stream positions went.)
    const rows = await a.rooms.repo.page(roomId, { from: 0, dir: "f", limit: 100 });
    expect(rows.length).toBe(5 + 1 + 1 + 30);
    for (let i = 1; i < rows.length; i++) {
      expect(JSON.parse(rows[i]!.pdu).prev_events).toEqual([rows[i - 1]!.event_id]);
    }
    // Both processes agree on the room's state afterwards.
    const fromB = await b.call("GET", `${V3}/rooms/${enc(roomId)}/joined_members`, {
      token: bob.accessToken,
    });
    expect(Object.keys(fromB.body.joined as object).sort()).toEqual([alice.userId, bob.userId].sort());
  });

  it("commits batches spanning the same rooms from both processes without deadlock", {
    timeout: 90_000,
  }, async () => {
    const carol = await a.register("carol");
    const rooms: string[] = [];
    for (let i = 0; i < 4; i++) {
      const r = await a.call("POST", `${V3}/createRoom`, { token: carol.accessToken, body: {} });
      rooms.push(r.body.room_id as string);
    }
    const sends = await Promise.all(
      Array.from({ length: 80 }, (_, i) =>
        (i % 2 === 0 ? a : b).call("PUT", `${V3}/rooms/${enc(rooms[i % 4]!)}/send/m.room.message/d${i}`, {
          token: carol.accessToken,
          body: { body: `d${i}` },
        }),
      ),
    );
    expect(sends.filter((r) => r.status !== 200).map((r) => r.body)).toEqual([]);
    for (const roomId of rooms) {
      const rows = await b.rooms.repo.page(roomId, { from: 0, dir: "f", limit: 100 });
      expect(rows.filter((r) => r.type === "m.room.message")).toHaveLength(20);
      for (let i = 1; i < rows.length; i++) {
        expect(JSON.parse(rows[i]!.pdu).prev_events).toEqual([rows[i - 1]!.event_id]);
      }
    }
  });
});
