import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GrpcIdentityClient } from "../../companion-services/identity/grpc-client.ts";
import type { ProvisionedService } from "../../companion-services/platform/roles.ts";
import { type DistributedCluster, startDistributedCluster } from "./cluster.ts";
import { pgAdminUrl, waitFor } from "./helpers.ts";

const kafka = process.env.KAFKA_BROKERS;
const run = pgAdminUrl && kafka ? describe : describe.skip;
if (!(pgAdminUrl && kafka))
  console.log("distributed.test: skipped, needs DATABASE_URL and KAFKA_BROKERS (CI)");

/**
 * The distributed mode end to end: identity and the homeserver as two processes, each on its own
 * PostgreSQL database as its own role, talking gRPC, with identity's events on Kafka.
 */
run("distributed mode: identity and homeserver as separate processes", () => {
  let cluster: DistributedCluster;
  let dbs: Map<string, ProvisionedService>;
  let grpcAddress: string;
  let base: string;

  beforeAll(async () => {
    cluster = await startDistributedCluster({
      adminUrl: pgAdminUrl ?? "",
      kafkaBrokers: kafka ?? "",
      env: { NOVA_ADMIN_PORT: "0" },
    });
    dbs = cluster.databases;
    grpcAddress = cluster.grpcAddress;
    base = cluster.baseUrl;
  }, 120_000);

  afterAll(async () => {
    // Both shut down cleanly on SIGTERM.
    expect(await cluster?.stop()).toEqual([0, 0]);
  }, 60_000);

  async function call(method: string, path: string, body?: unknown, token?: string) {
    const res = await fetch(base + path, {
      method,
      headers: {
        ...(body ? { "Content-Type": "application/json" } : {}),
        ...(token ? { Authorization: `Bearer ${token}` } : {}),
      },
      body: body ? JSON.stringify(body) : undefined,
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  }

  it("registers, logs in and answers whoami through identity over gRPC", async () => {
    const reg = await call("POST", "/_matrix/client/v3/register", {
      username: "dana",
      password: "correct horse battery staple",
      auth: { type: "m.login.dummy" },
    });
    expect(reg.status).toBe(200);
    expect(reg.body.user_id).toBe("@dana:dist.test");
    const who = await call(
      "GET",
      "/_matrix/client/v3/account/whoami",
      undefined,
      reg.body.access_token as string,
    );
    expect(who).toEqual({
      status: 200,
      body: expect.objectContaining({ user_id: "@dana:dist.test", device_id: reg.body.device_id }),
    });

    const login = await call("POST", "/_matrix/client/v3/login", {
      type: "m.login.password",
      identifier: { type: "m.id.user", user: "dana" },
      password: "correct horse battery staple",
    });
    expect(login.status).toBe(200);
    const bad = await call("POST", "/_matrix/client/v3/login", {
      type: "m.login.password",
      identifier: { type: "m.id.user", user: "dana" },
      password: "wrong",
    });
    expect(bad).toMatchObject({ status: 403, body: { errcode: "M_FORBIDDEN" } });
    const taken = await call("POST", "/_matrix/client/v3/register", {
      username: "dana",
      password: "x-y-z-w-1234",
      auth: { type: "m.login.dummy" },
    });
    expect(taken).toMatchObject({ status: 400, body: { errcode: "M_USER_IN_USE" } });

    // Logout through the homeserver: the token dies at once.
    const token = login.body.access_token as string;
    expect((await call("GET", "/_matrix/client/v3/account/whoami", undefined, token)).status).toBe(200);
    expect((await call("POST", "/_matrix/client/v3/logout", {}, token)).status).toBe(200);
    expect(await call("GET", "/_matrix/client/v3/account/whoami", undefined, token)).toMatchObject({
      status: 401,
      body: { errcode: "M_UNKNOWN_TOKEN" },
    });
  });

  it("a device revoked at identity directly is refused by the homeserver once the event arrives", async () => {
    const login = await call("POST", "/_matrix/client/v3/login", {
      type: "m.login.password",
      identifier: { type: "m.id.user", user: "dana" },
      password: "correct horse battery staple",
      device_id: "TABLET",
    });
    const token = login.body.access_token as string;
    expect((await call("GET", "/_matrix/client/v3/account/whoami", undefined, token)).status).toBe(200);
    const direct = new GrpcIdentityClient({ address: grpcAddress });
    try {
      expect(await direct.revokeDevice("@dana:dist.test", "TABLET")).toBe(true);
    } finally {
      direct.close();
    }
    // The homeserver had the token cached; identity's device.revoked (outbox → Kafka) evicts it.
    const started = Date.now();
    await waitFor(
      async () => (await call("GET", "/_matrix/client/v3/account/whoami", undefined, token)).status === 401,
      8_000,
      "token refused",
    );
    expect(Date.now() - started).toBeLessThan(8_000);
  });

  it("each process is its own role on its own database", async () => {
    const identityDb = dbs.get("identity")!;
    const messagingDb = dbs.get("messaging")!;
    const c = new pg.Client({ connectionString: identityDb.url });
    await c.connect();
    const users = await c.query("SELECT user_id FROM identity.users");
    const events = await c.query(
      "SELECT event_type, published_at IS NOT NULL AS published FROM identity.outbox_events ORDER BY seq",
    );
    await c.end();
    expect(users.rows.map((r) => r.user_id)).toEqual(["@dana:dist.test"]);
    expect(events.rows.map((r) => r.event_type)).toContain("user.registered");
    await waitFor(
      async () => {
        const c2 = new pg.Client({ connectionString: identityDb.url });
        await c2.connect();
        const pending = await c2.query(
          "SELECT count(*)::int AS n FROM identity.outbox_events WHERE published_at IS NULL",
        );
        await c2.end();
        return pending.rows[0].n === 0;
      },
      5_000,
      "outbox drained",
    );
    // The homeserver's role cannot reach identity's database at all.
    const intruder = new URL(identityDb.url);
    intruder.username = messagingDb.role;
    intruder.password = new URL(messagingDb.url).password;
    const c3 = new pg.Client({ connectionString: intruder.toString() });
    await expect(c3.connect()).rejects.toThrow(/permission denied for database/);
  });

  it("identity's gRPC port answers bad input with INVALID_ARGUMENT, and keeps running", async () => {
    const direct = new GrpcIdentityClient({ address: grpcAddress });
    try {
      await expect(direct.getUser("no-at-sign")).rejects.toMatchObject({
        status: 400,
        errcode: "M_INVALID_PARAM",
      });
      await expect(direct.verifyToken("")).rejects.toMatchObject({ status: 400, errcode: "M_INVALID_PARAM" });
      expect(await direct.getUser("@dana:dist.test")).toMatchObject({ localpart: "dana" });
    } finally {
      direct.close();
    }
  });

  it("each process has its admin listener: identity, which has no client port, included", async () => {
    for (const [proc, service] of [
      [cluster.identity, "identity"],
      [cluster.homeserver, "homeserver"],
    ] as const) {
      const port = proc.ready.admin_port as number;
      expect(port, service).toBeGreaterThan(0);
      const ready = await fetch(`http://127.0.0.1:${port}/ready`);
      expect(await ready.json()).toEqual({ status: "ready", service });
      expect(await (await fetch(`http://127.0.0.1:${port}/metrics`)).text()).toContain(
        "process_cpu_seconds_total",
      );
    }
  });

  it("the admin API manages identity's users and tokens over gRPC; a shadow ban reaches the homeserver", async () => {
    const direct = new GrpcIdentityClient({ address: grpcAddress });
    let root: string;
    try {
      const r = await direct.register({ localpart: "root", password: "pw-root-123456", admin: true });
      root = (r as { accessToken: string }).accessToken;
    } finally {
      direct.close();
    }
    const created = await call(
      "PUT",
      "/_synapse/admin/v2/users/@ed:dist.test",
      { password: "pw-ed-123456" },
      root,
    );
    expect(created.status).toBe(201);
    const list = await call("GET", "/_synapse/admin/v2/users?name=ed", undefined, root);
    expect((list.body.users as { name: string }[]).map((u) => u.name)).toEqual(["@ed:dist.test"]);
    const token = await call("POST", "/_synapse/admin/v1/registration_tokens/new", { uses_allowed: 2 }, root);
    expect(token.status).toBe(200);
    const t = token.body.token as string;
    const updated = await call(
      "PUT",
      `/_synapse/admin/v1/registration_tokens/${t}`,
      { uses_allowed: 5 },
      root,
    );
    expect(updated.body).toMatchObject({ token: t, uses_allowed: 5, pending: 0, completed: 0 });
    expect(
      (await call("DELETE", `/_synapse/admin/v1/registration_tokens/${t}`, undefined, root)).status,
    ).toBe(200);
    expect((await call("GET", `/_synapse/admin/v1/registration_tokens/${t}`, undefined, root)).status).toBe(
      404,
    );

    // Shadow-banned at identity: the homeserver learns it with the token and drops ed's sends.
    expect((await call("POST", "/_synapse/admin/v1/users/@ed:dist.test/shadow_ban", {}, root)).status).toBe(
      200,
    );
    const login = await call("POST", "/_matrix/client/v3/login", {
      type: "m.login.password",
      identifier: { type: "m.id.user", user: "ed" },
      password: "pw-ed-123456",
    });
    const ed = login.body.access_token as string;
    const room = await call("POST", "/_matrix/client/v3/createRoom", { preset: "public_chat" }, root);
    const roomId = room.body.room_id as string;
    expect((await call("POST", `/_matrix/client/v3/join/${encodeURIComponent(roomId)}`, {}, ed)).status).toBe(
      200,
    );
    const sent = await call(
      "PUT",
      `/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}/send/m.room.message/t1`,
      { msgtype: "m.text", body: "spam" },
      ed,
    );
    expect(sent.status).toBe(200);
    const messages = await call(
      "GET",
      `/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}/messages?dir=b&limit=20`,
      undefined,
      root,
    );
    const bodies = (messages.body.chunk as { type: string; content: { body?: string } }[])
      .filter((e) => e.type === "m.room.message")
      .map((e) => e.content.body);
    expect(bodies).not.toContain("spam");
    expect((await call("GET", "/_synapse/admin/v2/users/@ed:dist.test", undefined, root)).body).toMatchObject(
      {
        shadow_banned: true,
      },
    );
  });
});
