import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freshDatabase } from "../helpers/database.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { createRoom, roomList, send, slideOk, type Who } from "./helpers.ts";

const redisUrl = process.env.REDIS_URL;
const onPostgres = Boolean(process.env.DATABASE_URL) && process.env.NOVA_TEST_BACKEND !== "pglite";

/**
 * Two homeserver processes on one database with Redis fan-out: a connection's requests may reach
 * either, so its positions are the database's and either replica carries on from any `pos`.
 */
describe.skipIf(!redisUrl || !onPostgres)(
  "sliding sync on two replicas (needs REDIS_URL and DATABASE_URL)",
  () => {
    let db: { url: string; drop(): Promise<void> };
    let a: TestServer;
    let b: TestServer;

    beforeAll(async () => {
      db = (await freshDatabase())!;
      a = await startTestServer({ DATABASE_URL: db.url, REDIS_URL: redisUrl! });
      b = await startTestServer({ DATABASE_URL: db.url, REDIS_URL: redisUrl! });
    }, 90_000);
    afterAll(async () => {
      await a?.close();
      await b?.close();
      await db?.drop();
    });

    it("continues a connection from either replica", { timeout: 60_000 }, async () => {
      const alice: Who = await a.register();
      const room = await createRoom(a, alice, { name: "shared" });
      await send(a, alice, room, "on a");
      const body = { conn_id: "both", lists: { all: roomList([0, 9], { timeline_limit: 5 }) } };
      // With fan-out a write is readable once the replicas' positions pass it: the first response
      // may end just before "on a"; what it lacks comes with the next one.
      const first = await slideOk(a, alice, body);
      expect(first.rooms[room]).toBeDefined();

      await send(b, alice, room, "on b");
      const onB = await slideOk(b, alice, body, { pos: first.pos });
      expect(onB.rooms[room]).toBeDefined();
      // The answer was lost; the retry reaches the other replica and gets the same one.
      const retried = await slideOk(a, alice, body, { pos: first.pos });
      expect(retried).toEqual(onB);

      await send(a, alice, room, "back on a");
      const waiting = slideOk(b, alice, body, { pos: onB.pos, timeout: 10_000 });
      const woke = await waiting;
      // Across the responses, each message once, in order.
      const seen = [first, onB, woke].flatMap((r) =>
        (r.rooms[room]?.timeline ?? []).map((e) => e.content.body),
      );
      expect(seen.filter((b) => typeof b === "string")).toEqual(["on a", "on b", "back on a"]);
    });

    it("wakes a long-poll on one replica for a write on the other", { timeout: 60_000 }, async () => {
      const bob: Who = await b.register();
      const room = await createRoom(b, bob, { name: "wake" });
      const body = { conn_id: "wake", lists: { all: roomList([0, 9]) } };
      const first = await slideOk(a, bob, body);
      const waiting = slideOk(a, bob, body, { pos: first.pos, timeout: 10_000 });
      await new Promise((r) => setTimeout(r, 300));
      const started = Date.now();
      await send(b, bob, room, "from the other replica");
      const woke = await waiting;
      expect(Date.now() - started).toBeLessThan(5_000);
      expect(woke.rooms[room]!.timeline!.map((e) => e.content.body)).toEqual(["from the other replica"]);
    });
  },
);
