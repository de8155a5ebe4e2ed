import * as grpc from "@grpc/grpc-js";
import type { Kysely } from "kysely";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GrpcIdentityClient } from "../../companion-services/identity/grpc-client.ts";
import { RemoteIdentity } from "../../companion-services/identity/remote.ts";
import type { IdentityService } from "../../companion-services/identity/service.ts";
import type { IdentityTables } from "../../companion-services/identity/tables.ts";
import type { ServiceDatabase } from "../../companion-services/platform/database.ts";
import { MatrixError } from "../../companion-services/platform/errors.ts";
import { MemoryEventBus } from "../../companion-services/platform/event-bus/memory.ts";
import { OutboxProcessor } from "../../companion-services/platform/outbox/processor.ts";
import type { OutboxTables } from "../../companion-services/platform/outbox/tables.ts";
import { RpcUnavailableError } from "../../companion-services/platform/rpc/errors.ts";
import { identityOverGrpc, pgAdminUrl, silentLogger, waitFor } from "./helpers.ts";

describe(`identity over gRPC (${pgAdminUrl ? "PostgreSQL" : "PGlite"})`, () => {
  let fixture: Awaited<ReturnType<typeof identityOverGrpc>>;
  let env: Awaited<ReturnType<typeof identityOverGrpc>>["env"];
  let identity: IdentityService;
  let db: Kysely<IdentityTables & OutboxTables>;
  let client: GrpcIdentityClient;
  let raw: grpc.Client;

  beforeAll(async () => {
    fixture = await identityOverGrpc();
    ({ env, identity, client, raw } = fixture);
    db = env.databases.get<IdentityTables & OutboxTables>("identity").db;
  }, 60_000);

  afterAll(() => fixture?.close());

  const rawCall = (method: string, request: unknown) =>
    new Promise<{ err: grpc.ServiceError | null; res: unknown }>((resolve) => {
      (
        raw as unknown as Record<
          string,
          (r: unknown, cb: (e: grpc.ServiceError | null, res: unknown) => void) => void
        >
      )[method](request, (err, res) => resolve({ err, res }));
    });

  it("registers, logs in, verifies, reads and revokes through the contract", async () => {
    const reg = await client.register({
      localpart: "alice",
      password: "pw-alice-123",
      initialDeviceDisplayName: "A",
    });
    expect(reg).toMatchObject({ userId: "@alice:test.nova", newDevice: true });
    if (!("accessToken" in reg)) throw new Error("expected a login");
    const auth = await client.verifyToken(reg.accessToken);
    expect(auth).toMatchObject({ userId: "@alice:test.nova", deviceId: reg.deviceId, isGuest: false });

    const login = await client.login({ user: "alice", password: "pw-alice-123", deviceId: "PHONE" });
    expect(login).toMatchObject({ userId: "@alice:test.nova", deviceId: "PHONE", newDevice: true });
    expect((await client.listDevices("@alice:test.nova")).map((d) => d.deviceId).sort()).toEqual(
      [reg.deviceId, "PHONE"].sort(),
    );

    expect(await client.getUser("@alice:test.nova")).toMatchObject({
      localpart: "alice",
      displayname: "alice",
      isAdmin: false,
    });
    expect(await client.getUser("@nobody:test.nova")).toBeNull();
    expect((await client.getUsers(["@alice:test.nova", "@nobody:test.nova"])).map((u) => u.userId)).toEqual([
      "@alice:test.nova",
    ]);
    const profile = await client.setProfile("@alice:test.nova", { displayname: "Alice", avatarUrl: null });
    expect(profile).toMatchObject({ displayname: "Alice", avatarUrl: null });

    expect(await client.revokeDevice("@alice:test.nova", "PHONE")).toBe(true);
    expect(await client.revokeDevice("@alice:test.nova", "PHONE")).toBe(false);
    await expect(client.verifyToken(login.accessToken)).rejects.toMatchObject({
      status: 401,
      errcode: "M_UNKNOWN_TOKEN",
      extra: { soft_logout: false },
    });

    // Identity published its events through its outbox, in the same transactions.
    const events = await db
      .selectFrom("outbox_events")
      .select(["event_type", "aggregate_id", "payload"])
      .orderBy("seq")
      .execute();
    expect(events.map((e) => e.event_type)).toEqual([
      "user.registered",
      "device.created",
      "device.created",
      "user.profile_updated",
      "device.revoked",
    ]);
    expect(events[4].payload).toMatchObject({
      device_id: "PHONE",
      reason: "deleted",
      user_id: "@alice:test.nova",
    });
    expect(new Set(events.map((e) => e.aggregate_id))).toEqual(new Set(["@alice:test.nova"]));
  });

  it("keeps MatrixError codes across the wire", async () => {
    await client.register({ localpart: "bob", password: "pw-bob-1234", inhibitLogin: true });
    const taken = await client.register({ localpart: "bob", password: "x" }).catch((e: unknown) => e);
    expect(taken).toBeInstanceOf(MatrixError);
    expect(taken).toMatchObject({ status: 400, errcode: "M_USER_IN_USE" });
    await expect(client.login({ user: "bob", password: "wrong" })).rejects.toMatchObject({
      status: 403,
      errcode: "M_FORBIDDEN",
    });
    await expect(client.register({ localpart: "Bad Name!", password: "x" })).rejects.toMatchObject({
      errcode: "M_INVALID_USERNAME",
    });
    await expect(client.refresh("nova_rt_nope")).rejects.toMatchObject({ errcode: "M_UNKNOWN_TOKEN" });
  });

  it("answers a missing or invalid field with INVALID_ARGUMENT, and keeps serving", async () => {
    for (const [method, request] of [
      ["GetUser", {}],
      ["GetUser", { user_id: "not-a-user-id" }],
      ["VerifyToken", {}],
      ["Login", { user: "bob" }],
      ["RevokeDevice", { user_id: "@bob:test.nova" }],
      ["GetUsers", { user_ids: ["@ok:x", "nope"] }],
      ["CreateRegistrationToken", { uses_allowed: -1 }],
    ] as const) {
      const { err } = await rawCall(method, request);
      expect(err?.code, `${method} ${JSON.stringify(request)}`).toBe(grpc.status.INVALID_ARGUMENT);
      expect(err?.metadata.get("matrix-errcode")[0]).toBe("M_INVALID_PARAM");
    }
    // Bytes that are not a protobuf message at all.
    const garbage = await new Promise<grpc.ServiceError | null>((resolve) =>
      raw.makeUnaryRequest(
        "/nova.identity.v1.Identity/GetUser",
        (b: Buffer) => b,
        (b: Buffer) => b,
        Buffer.from([0xff, 0xff, 0xff, 0xff, 0x0f]),
        (err) => resolve(err),
      ),
    );
    expect(garbage?.code).toBe(grpc.status.INTERNAL);
    expect((await rawCall("Ping", {})).err).toBeNull();
    expect(await client.getUser("@bob:test.nova")).toMatchObject({ localpart: "bob" });
  });

  it("upgrades a guest and deactivates an account through the contract", async () => {
    const g = await client.register({ guest: true });
    if (!("accessToken" in g)) throw new Error("expected a login");
    expect(await client.verifyToken(g.accessToken)).toMatchObject({ userId: g.userId, isGuest: true });
    const localpart = g.userId.slice(1).split(":")[0]!;
    await expect(
      client.register({ upgradeGuestUserId: g.userId, localpart: "someone-else", password: "pw-guest-123" }),
    ).rejects.toMatchObject({ errcode: "M_USER_IN_USE" });
    const up = await client.register({ upgradeGuestUserId: g.userId, localpart, password: "pw-guest-123" });
    expect(up.userId).toBe(g.userId);
    expect(await client.getUser(g.userId)).toMatchObject({ isGuest: false });

    const devices = await client.deactivate(g.userId, { erase: true });
    expect(devices.length).toBe(2);
    expect(await client.getUser(g.userId)).toMatchObject({ deactivated: true, displayname: null });
    await expect(client.verifyToken(g.accessToken)).rejects.toMatchObject({ errcode: "M_UNKNOWN_TOKEN" });
    await expect(client.login({ user: localpart, password: "pw-guest-123" })).rejects.toMatchObject({
      errcode: "M_USER_DEACTIVATED",
      status: 403,
    });
    await expect(client.deactivate("@nobody:test.nova", { erase: false })).rejects.toMatchObject({
      errcode: "M_NOT_FOUND",
    });
  });

  it("gives up on an unreachable peer within its deadline, as a typed 503", async () => {
    const dead = new GrpcIdentityClient({ address: "127.0.0.1:1", deadlineMs: 300, retries: 2 });
    const started = Date.now();
    const err = await dead.getUser("@bob:test.nova").catch((e: unknown) => e);
    dead.close();
    expect(err).toBeInstanceOf(RpcUnavailableError);
    expect(err).toMatchObject({ status: 503, errcode: "M_UNKNOWN" });
    expect(Date.now() - started).toBeLessThan(3_000);
  });

  it("the homeserver's token cache drops a token when identity revokes its device elsewhere", async () => {
    const bus = new MemoryEventBus();
    const processor = new OutboxProcessor({
      database: env.databases.get<unknown>("identity") as ServiceDatabase<unknown>,
      bus,
      logger: silentLogger,
    });
    const revokedHook: string[] = [];
    const remote = new RemoteIdentity(client, {
      cacheTtlMs: 60_000,
      onDeviceRevoked: (u, d) => void revokedHook.push(`${u}|${d}`),
    });
    // Earlier tests' events go out first: the cache subscribes from the latest offset.
    await processor.drain();
    const consumer = remote.subscribeToRevocations(bus, silentLogger, "test");
    await consumer.start();
    await processor.start();
    try {
      const r = await remote.register({ localpart: "carol", password: "pw-carol-123", deviceId: "LAPTOP" });
      if (!("accessToken" in r)) throw new Error("expected a login");
      await remote.verifyToken(r.accessToken);
      await remote.verifyToken(r.accessToken);
      expect(remote.hits).toBe(1);
      // Revoked directly on identity (an admin tool, another homeserver): only the event tells us.
      await identity.revokeDevice("@carol:test.nova", "LAPTOP");
      await waitFor(() => revokedHook.length === 1, 5_000, "device.revoked consumed");
      expect(revokedHook).toEqual(["@carol:test.nova|LAPTOP"]);
      await expect(remote.verifyToken(r.accessToken)).rejects.toMatchObject({ errcode: "M_UNKNOWN_TOKEN" });
    } finally {
      await consumer.stop();
      await processor.stop();
      await bus.close();
    }
  });
});
