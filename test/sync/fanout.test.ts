import { randomUUID } from "node:crypto";
import type { Kysely } from "kysely";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Databases } from "../../companion-services/platform/database.ts";
import { createLogger } from "../../companion-services/platform/logger.ts";
import { RedisFanout } from "../../sync/fanout/redis.ts";
import { Notifier } from "../../sync/notifier.ts";
import { StreamPositions } from "../../sync/stream-positions.ts";
import { freshDatabase } from "../helpers/process.ts";

/**
 * Two "replicas" in one process — each its own StreamPositions, Notifier and Redis fan-out — on
 * one PostgreSQL database (PGlite has one connection: an open transaction would block the other
 * replica), to check the cross-replica safe position deterministically.
 */
const redisUrl = process.env.REDIS_URL;
const pgUrl = process.env.DATABASE_URL;
let dropDb: (() => Promise<void>) | undefined;

type Replica = { streams: StreamPositions; notifier: Notifier; fanout: RedisFanout };

let databases: Databases;
let db: Kysely<unknown>;
const replicas: Replica[] = [];

async function replica(scope: string): Promise<Replica> {
  const streams = new StreamPositions(db);
  await streams.init();
  const notifier = new Notifier(streams);
  const fanout = new RedisFanout({
    url: redisUrl!,
    scope,
    streams,
    notifier,
    logger: createLogger("silent"),
  });
  await fanout.start();
  const r = { streams, notifier, fanout };
  replicas.push(r);
  return r;
}

async function until(pred: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!pred()) {
    if (Date.now() > deadline) throw new Error("condition not reached");
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe.skipIf(!redisUrl || !pgUrl)(
  "Redis fan-out between replicas (needs REDIS_URL and DATABASE_URL)",
  () => {
    let a: Replica;
    let b: Replica;

    beforeAll(async () => {
      const fresh = (await freshDatabase())!;
      dropDb = fresh.drop;
      databases = await Databases.open(["messaging"], {
        dataDir: "memory://",
        urls: { messaging: fresh.url },
      });
      db = databases.get<unknown>("messaging").db;
      const scope = `test-${randomUUID()}`;
      [a, b] = await Promise.all([replica(scope), replica(scope)]);
    });
    afterAll(async () => {
      for (const r of replicas) await r.fanout.close();
      await databases?.close();
      await dropDb?.();
    });

    it("each replica sees the other", () => {
      expect(a.fanout.peers()).toEqual([b.fanout.replicaId]);
      expect(b.fanout.peers()).toEqual([a.fanout.replicaId]);
    });

    it("never lets a reader pass a position still in flight on another replica", async () => {
      let releaseA: () => void = () => {};
      const held = new Promise<void>((r) => {
        releaseA = r;
      });
      let aPosition = 0;
      const allocated = new Promise<void>((resolve) => {
        void a.streams.write(db, async (_trx, position) => {
          aPosition = position;
          resolve();
          await held;
        });
      });
      await allocated;
      // B commits a higher position while A's lower one is still open.
      const { position: bPosition } = await b.streams.write(db, async () => undefined);
      b.notifier.notify(bPosition, { userIds: ["@u:x"] });
      expect(bPosition).toBeGreaterThan(aPosition);
      await new Promise((r) => setTimeout(r, 200));
      expect(b.streams.current()).toBeLessThan(aPosition);
      expect(a.streams.current()).toBeLessThan(aPosition);

      releaseA();
      await until(() => a.streams.current() >= bPosition && b.streams.current() >= bPosition);
    });

    it("wakes a reader on the other replica for a write it did not make", async () => {
      const woken = b.notifier.wait("@bob:x", ["!room:x"], 5_000);
      const { position } = await a.streams.write(db, async () => undefined);
      a.notifier.notify(position, { roomIds: ["!room:x"] });
      expect(await woken).toBe(true);
      expect(b.streams.current()).toBeGreaterThanOrEqual(position);
    });

    it("an idle replica does not hold the others back", async () => {
      const before = Date.now();
      const { position } = await b.streams.write(db, async () => undefined);
      b.notifier.notify(position, { userIds: ["@x:x"] });
      await until(() => b.streams.current() >= position, 2_000);
      // Well under the heartbeat: A echoes B's position as soon as it hears it.
      expect(Date.now() - before).toBeLessThan(400);
    });

    it("a replica that says goodbye stops holding the others back", async () => {
      const c = await replica(`solo-${randomUUID()}`);
      expect(c.fanout.peers()).toEqual([]);
      await b.fanout.close();
      await until(() => a.fanout.peers().length === 0, 2_000);
      const { position } = await a.streams.write(db, async () => undefined);
      expect(a.streams.current()).toBeGreaterThanOrEqual(position);
    });
  },
);
