import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { NOTIFY_URL, type NotificationsEnv, notificationsEnv, record } from "./helpers.ts";

const pusher = (over: Record<string, unknown> = {}) => ({
  kind: "http",
  app_id: "im.nova.app",
  app_display_name: "Nova",
  device_display_name: "Alice's phone",
  pushkey: "pk-1",
  lang: "en",
  data: { url: NOTIFY_URL, format: "event_id_only" },
  ...over,
});

describe("pushers API (/pushers, /pushers/set)", () => {
  let t: NotificationsEnv;
  beforeAll(async () => {
    t = await notificationsEnv();
  });
  afterAll(() => t.close());

  const set = (token: string, body: unknown) => t.call("POST", "/_matrix/client/v3/pushers/set", token, body);
  const list = async (token: string) =>
    (await t.call("GET", "/_matrix/client/v3/pushers", token)).body.pushers as Record<string, unknown>[];

  it("requires an access token", async () => {
    expect((await t.call("GET", "/_matrix/client/v3/pushers", null)).status).toBe(401);
    expect((await set("", pusher())).status).toBe(401);
  });

  it("sets a pusher and lists it as the spec shows it, custom data kept, profile_tag omitted when unset", async () => {
    const body = pusher({ data: { url: NOTIFY_URL, format: "id_event_only", custom: "kept" } });
    expect(await set("alice.A1", body)).toEqual({ status: 200, body: {} });
    expect(await list("alice.A1")).toEqual([
      {
        pushkey: "pk-1",
        kind: "http",
        app_id: "im.nova.app",
        app_display_name: "Nova",
        device_display_name: "Alice's phone",
        lang: "en",
        data: { url: NOTIFY_URL, format: "id_event_only", custom: "kept" },
      },
    ]);
    const row = await t.db
      .selectFrom("push_tokens")
      .selectAll()
      .where("user_id", "=", "@alice:test")
      .execute();
    expect(row.map((r) => r.device_id)).toEqual(["A1"]);
  });

  it("setting the same (app_id, pushkey) again updates it, from the device that set it last", async () => {
    await set("alice.A2", pusher({ lang: "fr", profile_tag: "work", pushkey: "pk-upd" }));
    await set("alice.A3", pusher({ lang: "de", profile_tag: "home", pushkey: "pk-upd" }));
    const mine = (await list("alice.A1")).filter((p) => p.pushkey === "pk-upd");
    expect(mine).toHaveLength(1);
    expect(mine[0]).toMatchObject({ lang: "de", profile_tag: "home" });
    const row = await t.db
      .selectFrom("push_tokens")
      .select("device_id")
      .where("pushkey", "=", "pk-upd")
      .executeTakeFirstOrThrow();
    expect(row.device_id).toBe("A3");
  });

  it("append false removes other users' pushers with the same key; append true keeps them", async () => {
    await set("carol.C1", pusher({ pushkey: "shared" }));
    await set("dave.D1", pusher({ pushkey: "shared", append: true }));
    expect((await list("carol.C1")).map((p) => p.pushkey)).toEqual(["shared"]);
    expect((await list("dave.D1")).map((p) => p.pushkey)).toEqual(["shared"]);
    await set("erin.E1", pusher({ pushkey: "shared" }));
    expect(await list("carol.C1")).toEqual([]);
    expect(await list("dave.D1")).toEqual([]);
    expect((await list("erin.E1")).map((p) => p.pushkey)).toEqual(["shared"]);
    // The same key under another app_id is another pusher.
    await set("frank.F1", pusher({ pushkey: "shared", app_id: "other.app" }));
    expect((await list("erin.E1")).map((p) => p.pushkey)).toEqual(["shared"]);
  });

  it("kind null deletes only this user's pusher for that app_id and pushkey, other fields optional", async () => {
    await set("gina.G1", pusher({ pushkey: "del" }));
    await set("hank.H1", pusher({ pushkey: "del", append: true }));
    expect(await set("gina.G1", { kind: null, app_id: "im.nova.app", pushkey: "del" })).toEqual({
      status: 200,
      body: {},
    });
    expect(await list("gina.G1")).toEqual([]);
    expect(await list("hank.H1")).toHaveLength(1);
    // Deleting what is not there is not an error.
    expect((await set("gina.G1", { kind: null, app_id: "im.nova.app", pushkey: "del" })).status).toBe(200);
  });

  it.each([
    ["kind", { kind: undefined }],
    ["app_id", { app_id: undefined }],
    ["pushkey", { pushkey: undefined }],
    ["app_display_name", { app_display_name: undefined }],
    ["device_display_name", { device_display_name: undefined }],
    ["lang", { lang: undefined }],
    ["data", { data: undefined }],
    ["data.url", { data: { format: "event_id_only" } }],
  ])("a missing %s is 400 M_MISSING_PARAM", async (field, over) => {
    const r = await set("ivan.I1", pusher(over));
    expect([r.status, r.body.errcode]).toEqual([400, "M_MISSING_PARAM"]);
    expect(String(r.body.error)).toContain(field.split(".").at(-1));
  });

  it("kind null without app_id or pushkey is 400 M_MISSING_PARAM", async () => {
    for (const body of [
      { kind: null, pushkey: "x" },
      { kind: null, app_id: "x" },
    ]) {
      const r = await set("ivan.I1", body);
      expect([r.status, r.body.errcode]).toEqual([400, "M_MISSING_PARAM"]);
    }
  });

  it.each([
    ["an unknown kind", { kind: "carrier-pigeon" }],
    ["a non-string kind", { kind: 3 }],
    ["a url that is not a URL", { data: { url: "not a url" } }],
    ["a url that is not http(s)", { data: { url: "ftp://push.example/_matrix/push/v1/notify" } }],
    ["a url without the notify path", { data: { url: "https://push.example/notify" } }],
    [
      "a url with the path only as a prefix",
      { data: { url: "https://push.example/_matrix/push/v1/notify/x" } },
    ],
    ["a non-string url", { data: { url: 42 } }],
    ["a non-string format", { data: { url: NOTIFY_URL, format: 1 } }],
    ["data that is not an object", { data: "https://push.example/_matrix/push/v1/notify" }],
    ["an app_id over 64 characters", { app_id: "a".repeat(65) }],
    ["a pushkey over 512 bytes", { pushkey: "é".repeat(257) }],
    ["an empty pushkey", { pushkey: "" }],
    ["an absurd display name", { device_display_name: "x".repeat(10_000) }],
    ["absurd data", { data: { url: NOTIFY_URL, junk: "x".repeat(20_000) } }],
    ["a non-string lang", { lang: ["en"] }],
    ["a non-boolean append", { append: "yes" }],
    ["a non-string profile_tag", { profile_tag: 7 }],
  ])("%s is 400 M_INVALID_PARAM and stores nothing", async (_what, over) => {
    const r = await set("judy.J1", pusher(over));
    expect([r.status, r.body.errcode]).toEqual([400, "M_INVALID_PARAM"]);
    expect(await list("judy.J1")).toEqual([]);
  });

  it("email pushers are refused: Nova has no email addresses to check them against", async () => {
    const r = await set("judy.J1", pusher({ kind: "email", app_id: "m.email", pushkey: "j@example.org" }));
    expect(r).toEqual({
      status: 400,
      body: { errcode: "M_INVALID_PARAM", error: "email pushers are not supported" },
    });
  });

  it("a kind null delete with a wrong-typed pushkey is 400 M_INVALID_PARAM", async () => {
    const r = await set("judy.J1", { kind: null, app_id: "im.nova.app", pushkey: 5 });
    expect([r.status, r.body.errcode]).toEqual([400, "M_INVALID_PARAM"]);
  });

  it("a body that is not a JSON object is 400, never a 500", async () => {
    expect((await set("judy.J1", "{nope")).body.errcode).toBe("M_NOT_JSON");
    const arr = await set("judy.J1", "[1,2]");
    expect([arr.status, arr.body.errcode]).toEqual([400, "M_BAD_JSON"]);
  });

  it("a plain http gateway URL with the notify path is accepted (local gateways, development)", async () => {
    const r = await set("kate.K1", pusher({ data: { url: "http://127.0.0.1:5000/_matrix/push/v1/notify" } }));
    expect(r.status).toBe(200);
  });

  it("a revoked device takes its pushers along; deactivation takes them all", async () => {
    await set("liam.L1", pusher({ pushkey: "l1" }));
    await set("liam.L2", pusher({ pushkey: "l2" }));
    await set("liam.L3", pusher({ pushkey: "l3" }));
    await t.identity.handleBatch([
      record("user", "@liam:test", "device.revoked", {
        user_id: "@liam:test",
        device_id: "L1",
        session_id: "s1",
        reason: "password_change",
      }),
    ]);
    expect((await list("liam.L2")).map((p) => p.pushkey).sort()).toEqual(["l2", "l3"]);
    await t.identity.handleBatch([
      record("user", "@liam:test", "user.deactivated", {
        user_id: "@liam:test",
        erased: false,
        deactivated_at: 1,
      }),
    ]);
    expect(await list("liam.L2")).toEqual([]);
  });
});
