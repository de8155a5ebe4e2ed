import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { toRecord } from "../../companion-services/platform/envelope.ts";
import { MemoryEventBus } from "../../companion-services/platform/event-bus/memory.ts";
import type { DeliveredRecord } from "../../companion-services/platform/event-bus.ts";
import { createLogger } from "../../companion-services/platform/logger.ts";
import { createSearchConsumers } from "../../companion-services/search/consumers.ts";
import type { SearchTables } from "../../companion-services/search/tables.ts";
import { startAdminServer } from "../helpers/admin.ts";
import { cliInProcess } from "../helpers/cli.ts";
import type { TestServer } from "../helpers/server.ts";
import { createRoom, post, searchUntil, send, type User } from "./helpers.ts";

describe("search's read model: idempotent consumers and nova search reindex", () => {
  let t: TestServer;
  let adminToken: string;
  let alice: User;

  beforeAll(async () => {
    const started = await startAdminServer();
    t = started.s;
    adminToken = started.admin;
    alice = await t.register();
  }, 60_000);
  afterAll(() => t?.close());

  it("applies each event once however often it is delivered, and in order", async () => {
    const db = t.ctx.databases.get<SearchTables>("search").db;
    const bus = new MemoryEventBus();
    const [, posts] = createSearchConsumers(db, bus, createLogger("silent"), 1_000);
    const id = randomUUID();
    let offset = 0;
    const record = (eventType: string, payload: { post_id: string }): DeliveredRecord => ({
      ...toRecord({
        id: randomUUID(),
        aggregate_type: "post",
        aggregate_id: id,
        event_type: eventType,
        payload,
        metadata: {},
        created_at: Date.now(),
      }),
      partition: 0,
      offset: String(offset++),
    });
    const published = record("post.published", post(id, alice.userId, "idempotent zeppelin"));
    const deleted = record("post.deleted", {
      post_id: id,
      author_id: alice.userId,
      deleted_at: Date.now(),
    } as {
      post_id: string;
    });
    const count = async () =>
      Number(
        (
          await db
            .selectFrom("search_posts")
            .select((eb) => eb.fn.countAll<number>().as("n"))
            .where("post_id", "=", id)
            .executeTakeFirstOrThrow()
        ).n,
      );
    await posts!.handleBatch([published, published]);
    expect(await count()).toBe(1);
    await posts!.handleBatch([deleted]);
    expect(await count()).toBe(0);
    // Redelivered after the delete (a consumer restarted mid-way): already applied, so still gone.
    await posts!.handleBatch([published, deleted, published]);
    expect(await count()).toBe(0);
    expect(posts!.deadLettered).toBe(0);
    await bus.close();
  });

  it("nova search reindex (through the running server's admin API) rebuilds what the bus keeps", async () => {
    const room = await createRoom(t, alice, {});
    await send(t, alice, room, "a marmot whistles");
    await searchUntil(t, alice, "marmot", 1);
    const db = t.ctx.databases.get<SearchTables>("search").db;
    const before = (await db.selectFrom("search_generation").select("generation").executeTakeFirstOrThrow())
      .generation;
    const refused = await cliInProcess(["search", "reindex"], {
      NOVA_URL: t.baseUrl,
      NOVA_ADMIN_TOKEN: alice.accessToken,
      NOVA_DATA_DIR: "memory://",
    });
    expect(refused.code).not.toBe(0);
    const r = await cliInProcess(["search", "reindex"], {
      NOVA_URL: t.baseUrl,
      NOVA_ADMIN_TOKEN: adminToken,
      NOVA_DATA_DIR: "memory://",
    });
    expect(r.code, r.err).toBe(0);
    expect(JSON.parse(r.out)).toMatchObject({ generation: before + 1, via: "server" });
    await searchUntil(t, alice, "marmot", 1);
    await send(t, alice, room, "a second marmot");
    await searchUntil(t, alice, "marmot", 2);
  });

  it("nova search reindex with no server empties the model in the database for the next start", async () => {
    const r = await cliInProcess(["search", "reindex"], {
      NOVA_URL: "http://127.0.0.1:9",
      NOVA_DATA_DIR: "memory://",
    });
    expect(r.code, r.err).toBe(0);
    expect(JSON.parse(r.out)).toMatchObject({ generation: 2, via: "database" });
  });
});
