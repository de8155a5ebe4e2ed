import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  dropServiceRoles,
  type ProvisionOptions,
  provisionServiceRoles,
} from "../../companion-services/platform/roles.ts";
import { waitFor } from "../helpers/wait.ts";
import { pgAdminUrl } from "../platform/helpers.ts";
import { freePort, type Spawned, spawnReady } from "../platform/spawn.ts";

const kafka = process.env.KAFKA_BROKERS;
const run = pgAdminUrl && kafka ? describe : describe.skip;
if (!(pgAdminUrl && kafka))
  console.log("search distributed.test: skipped, needs DATABASE_URL and KAFKA_BROKERS");

/**
 * Search as its own process on its own database and role: it consumes the homeserver's and
 * identity's events from Kafka, and the homeserver's POST /search asks it over gRPC.
 */
run("distributed mode: nova serve search", () => {
  let roles: ProvisionOptions;
  const procs: Spawned[] = [];
  let base = "";
  let searchBase = "";

  beforeAll(async () => {
    roles = {
      adminUrl: pgAdminUrl ?? "",
      prefix: `nova_s${randomBytes(4).toString("hex")}`,
      services: ["identity", "messaging", "search"],
      layout: "databases",
    };
    const dbs = new Map((await provisionServiceRoles(roles)).map((s) => [s.service, s]));
    const identityGrpc = `127.0.0.1:${await freePort()}`;
    const searchGrpc = `127.0.0.1:${await freePort()}`;
    const common = {
      KAFKA_BROKERS: kafka ?? "",
      // Its own topics and groups: other distributed tests share the broker at the same time.
      KAFKA_NAMESPACE: roles.prefix,
      NOVA_SERVER_NAME: "search.test",
      NOVA_DATA_DIR: "memory://",
      NOVA_OUTBOX_POLL_MS: "200",
      IDENTITY_GRPC_ADDRESS: identityGrpc,
    };
    procs.push(
      await spawnReady(["server/cli.ts", "serve", "identity"], {
        ...common,
        IDENTITY_DATABASE_URL: dbs.get("identity")!.url,
        IDENTITY_GRPC_LISTEN: identityGrpc,
      }),
    );
    const search = await spawnReady(["server/cli.ts", "serve", "search"], {
      ...common,
      SEARCH_DATABASE_URL: dbs.get("search")!.url,
      SEARCH_HTTP_PORT: "0",
      SEARCH_GRPC_LISTEN: searchGrpc,
    });
    procs.push(search);
    searchBase = `http://127.0.0.1:${search.ready.port}`;
    const homeserver = await spawnReady(["server/cli.ts", "serve", "homeserver"], {
      ...common,
      MESSAGING_DATABASE_URL: dbs.get("messaging")!.url,
      SEARCH_GRPC_ADDRESS: searchGrpc,
      NOVA_PORT: "0",
    });
    procs.push(homeserver);
    base = `http://127.0.0.1:${homeserver.ready.port}`;
  }, 180_000);

  afterAll(async () => {
    const codes: (number | null)[] = [];
    for (const p of procs.reverse()) codes.push(await p.stop());
    await dropServiceRoles(roles);
    expect(codes.every((c) => c === 0)).toBe(true);
  }, 60_000);

  const call = async (url: string, method: string, body?: unknown, token?: string) => {
    const res = await fetch(url, {
      method,
      headers: {
        ...(body ? { "Content-Type": "application/json" } : {}),
        ...(token ? { Authorization: `Bearer ${token}` } : {}),
      },
      body: body ? JSON.stringify(body) : undefined,
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };

  it("indexes from Kafka and answers the homeserver's POST /search over gRPC", async () => {
    const reg = await call(`${base}/_matrix/client/v3/register`, "POST", {
      username: "kanga",
      password: "correct horse battery staple",
      auth: { type: "m.login.dummy" },
    });
    expect(reg.status).toBe(200);
    const token = reg.body.access_token as string;
    const room = await call(`${base}/_matrix/client/v3/createRoom`, "POST", { name: "Outback" }, token);
    const roomId = room.body.room_id as string;
    const sent = await call(
      `${base}/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}/send/m.room.message/t1`,
      "PUT",
      { msgtype: "m.text", body: "a distributed kangaroo hops" },
      token,
    );
    expect(sent.status).toBe(200);
    const found = await waitFor(
      "the kangaroo through the homeserver",
      async () => {
        const r = await call(
          `${base}/_matrix/client/v3/search`,
          "POST",
          { search_categories: { room_events: { search_term: "kangaroos" } } },
          token,
        );
        const cat = (r.body.search_categories as { room_events: { results: unknown[] } }).room_events;
        return cat.results.length === 1 ? cat : null;
      },
      30_000,
    );
    expect(found.results[0]).toMatchObject({ result: { event_id: sent.body.event_id, room_id: roomId } });
    const users = await waitFor(
      "kanga in /_nova/v1/search on search's own listener",
      async () => {
        const r = await call(`${searchBase}/_nova/v1/search?type=users&q=kang`, "GET", undefined, token);
        return r.status === 200 && (r.body.results as unknown[]).length > 0 ? r.body : null;
      },
      60_000,
    );
    expect(users.results).toEqual([{ type: "user", user_id: "@kanga:search.test", displayname: "kanga" }]);
  }, 150_000);
});
