import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestServer, type TestServer } from "../helpers/server.ts";

type Who = { userId: string; deviceId: string; accessToken: string };
type Rule = { rule_id: string; default: boolean; enabled: boolean; actions: unknown[]; pattern?: string };
type Ruleset = Record<"override" | "content" | "room" | "sender" | "underride", Rule[]>;

const V3 = "/_matrix/client/v3";

describe("account data", () => {
  let s: TestServer;
  let alice: Who;
  let bob: Who;
  beforeAll(async () => {
    s = await startTestServer();
    alice = await s.register("alice");
    bob = await s.register("bob");
  });
  afterAll(async () => {
    await s.close();
  });

  it("stores global and per-room account data, and 404s what was never set", async () => {
    const base = `${V3}/user/${alice.userId}`;
    const missing = await s.call("GET", `${base}/account_data/m.direct`, { token: alice.accessToken });
    expect(missing.status).toBe(404);
    expect(missing.body.errcode).toBe("M_NOT_FOUND");
    expect(
      (
        await s.call("PUT", `${base}/account_data/m.direct`, {
          token: alice.accessToken,
          body: { "@b:x": ["!r:x"] },
        })
      ).status,
    ).toBe(200);
    const got = await s.call("GET", `${base}/account_data/m.direct`, { token: alice.accessToken });
    expect(got.body).toEqual({ "@b:x": ["!r:x"] });
    // Overwrite.
    await s.call("PUT", `${base}/account_data/m.direct`, { token: alice.accessToken, body: {} });
    expect((await s.call("GET", `${base}/account_data/m.direct`, { token: alice.accessToken })).body).toEqual(
      {},
    );

    const room = `${base}/rooms/${encodeURIComponent("!room:localhost")}/account_data/m.tag`;
    expect((await s.call("GET", room, { token: alice.accessToken })).status).toBe(404);
    await s.call("PUT", room, { token: alice.accessToken, body: { tags: { u: {} } } });
    expect((await s.call("GET", room, { token: alice.accessToken })).body).toEqual({ tags: { u: {} } });
    // Per-room data is not global data.
    expect((await s.call("GET", `${base}/account_data/m.tag`, { token: alice.accessToken })).status).toBe(
      404,
    );
  });

  it("refuses other users, server-managed types, bad room ids and non-object bodies", async () => {
    const base = `${V3}/user/${alice.userId}`;
    const other = await s.call("PUT", `${base}/account_data/x.y`, { token: bob.accessToken, body: {} });
    expect(other.status).toBe(403);
    expect(other.body.errcode).toBe("M_FORBIDDEN");
    expect((await s.call("GET", `${base}/account_data/x.y`, { token: bob.accessToken })).status).toBe(403);

    for (const type of ["m.fully_read", "m.push_rules"]) {
      const r = await s.call("PUT", `${base}/account_data/${type}`, { token: alice.accessToken, body: {} });
      expect(r.status).toBe(405);
      expect(r.body.errcode).toBe("M_BAD_JSON");
    }
    const roomFully = await s.call("PUT", `${base}/rooms/!r:localhost/account_data/m.fully_read`, {
      token: alice.accessToken,
      body: { event_id: "$x" },
    });
    expect(roomFully.status).toBe(405);

    const badRoom = await s.call("PUT", `${base}/rooms/@notaroom:localhost/account_data/x.y`, {
      token: alice.accessToken,
      body: {},
    });
    expect(badRoom.status).toBe(400);
    expect(badRoom.body.errcode).toBe("M_INVALID_PARAM");
    const notObject = await s.call("PUT", `${base}/account_data/x.y`, {
      token: alice.accessToken,
      body: [1, 2],
    });
    expect(notObject.status).toBe(400);
    expect(notObject.body.errcode).toBe("M_BAD_JSON");
    const notJson = await s.call("PUT", `${base}/account_data/x.y`, {
      token: alice.accessToken,
      raw: "{oops",
    });
    expect(notJson.status).toBe(400);
    expect(notJson.body.errcode).toBe("M_NOT_JSON");
    const tooLarge = await s.call("PUT", `${base}/account_data/x.y`, {
      token: alice.accessToken,
      body: { blob: "x".repeat(2 * 1024 * 1024) },
    });
    expect(tooLarge.status).toBe(413);
    expect(tooLarge.body.errcode).toBe("M_TOO_LARGE");
    const badToken = await s.call("PUT", `${base}/account_data/x.y`, { token: "nova_at_bogus", body: {} });
    expect(badToken.status).toBe(401);
    expect(badToken.body.errcode).toBe("M_UNKNOWN_TOKEN");
    // Nothing was written by the failed requests.
    expect((await s.call("GET", `${base}/account_data/x.y`, { token: alice.accessToken })).status).toBe(404);
  });

  it("tags rooms through the tags API, delivered as m.tag room account data", async () => {
    const roomId = (await s.call("POST", `${V3}/createRoom`, { token: alice.accessToken, body: {} })).body
      .room_id as string;
    const tags = `${V3}/user/${alice.userId}/rooms/${encodeURIComponent(roomId)}/tags`;
    expect((await s.call("GET", tags, { token: alice.accessToken })).body).toEqual({ tags: {} });
    const first = await s.call("GET", `${V3}/sync`, { token: alice.accessToken });
    expect(
      (await s.call("PUT", `${tags}/m.favourite`, { token: alice.accessToken, body: { order: 0.5 } })).status,
    ).toBe(200);
    expect((await s.call("PUT", `${tags}/u.work`, { token: alice.accessToken, body: {} })).status).toBe(200);
    expect((await s.call("GET", tags, { token: alice.accessToken })).body).toEqual({
      tags: { "m.favourite": { order: 0.5 }, "u.work": {} },
    });
    expect((await s.call("DELETE", `${tags}/u.work`, { token: alice.accessToken })).status).toBe(200);
    const next = await s.call("GET", `${V3}/sync?since=${first.body.next_batch}`, {
      token: alice.accessToken,
    });
    const room = (next.body.rooms as { join: Record<string, { account_data?: { events: unknown[] } }> }).join[
      roomId
    ];
    expect(room?.account_data?.events).toEqual([
      { type: "m.tag", content: { tags: { "m.favourite": { order: 0.5 } } } },
    ]);

    const badOrder = await s.call("PUT", `${tags}/x`, { token: alice.accessToken, body: { order: 2 } });
    expect(badOrder.status).toBe(400);
    expect(badOrder.body.errcode).toBe("M_BAD_JSON");
    expect((await s.call("GET", tags, { token: bob.accessToken })).status).toBe(403);
    const badRoom = await s.call("GET", `${V3}/user/${alice.userId}/rooms/nope/tags`, {
      token: alice.accessToken,
    });
    expect(badRoom.status).toBe(400);
    expect(badRoom.body.errcode).toBe("M_INVALID_PARAM");
  });

  it("serves m.push_rules account data from the push-rule store", async () => {
    const r = await s.call("GET", `${V3}/user/${alice.userId}/account_data/m.push_rules`, {
      token: alice.accessToken,
    });
    expect(r.status).toBe(200);
    expect(((r.body.global as Ruleset).override[0] as Rule).rule_id).toBe(".m.rule.master");
  });
});

describe("push rules API", () => {
  let s: TestServer;
  let alice: Who;
  const P = `${V3}/pushrules`;
  beforeAll(async () => {
    s = await startTestServer();
    alice = await s.register("alice");
  });
  afterAll(async () => {
    await s.close();
  });
  const rules = async () =>
    (await s.call("GET", `${P}/`, { token: alice.accessToken })).body.global as Ruleset;
  const put = (path: string, body: unknown) =>
    s.call("PUT", `${P}/global/${path}`, { token: alice.accessToken, body });

  it("returns the spec's default rule set for the user", async () => {
    const g = await rules();
    expect(g.override.map((r) => r.rule_id)).toContain(".m.rule.is_user_mention");
    expect(g.override.find((r) => r.rule_id === ".m.rule.invite_for_me")).toMatchObject({
      default: true,
      enabled: true,
    });
    expect(g.content[0]).toMatchObject({ rule_id: ".m.rule.contains_user_name", pattern: "alice" });
    expect(g.underride.map((r) => r.rule_id)).toEqual([
      ".m.rule.call",
      ".m.rule.encrypted_room_one_to_one",
      ".m.rule.room_one_to_one",
      ".m.rule.message",
      ".m.rule.encrypted",
    ]);
    expect(g.room).toEqual([]);
    expect(g.sender).toEqual([]);
    const scope = await s.call("GET", `${P}/global/`, { token: alice.accessToken });
    expect(scope.body.override).toEqual(g.override);
    const kind = await s.call("GET", `${P}/global/underride/`, { token: alice.accessToken });
    expect(kind.body).toEqual(g.underride);
    const one = await s.call("GET", `${P}/global/override/.m.rule.master`, { token: alice.accessToken });
    expect(one.body).toMatchObject({ rule_id: ".m.rule.master", enabled: false, default: true });
  });

  it("adds user rules before the defaults of their kind, honouring before/after", async () => {
    expect((await put("override/one", { actions: ["notify"], conditions: [] })).status).toBe(200);
    expect((await put("override/two", { actions: [] })).status).toBe(200);
    let g = await rules();
    // Master first, then user rules (newest on top), then the other defaults.
    expect(g.override.slice(0, 4).map((r) => r.rule_id)).toEqual([
      ".m.rule.master",
      "two",
      "one",
      ".m.rule.suppress_notices",
    ]);
    expect(
      (
        await s.call("PUT", `${P}/global/override/three?after=two`, {
          token: alice.accessToken,
          body: { actions: [] },
        })
      ).status,
    ).toBe(200);
    expect(
      (
        await s.call("PUT", `${P}/global/override/zero?before=two`, {
          token: alice.accessToken,
          body: { actions: [] },
        })
      ).status,
    ).toBe(200);
    g = await rules();
    expect(g.override.slice(1, 5).map((r) => r.rule_id)).toEqual(["zero", "two", "three", "one"]);

    expect((await put("content/cats", { actions: ["notify"], pattern: "cat*" })).status).toBe(200);
    expect((await put(`room/${encodeURIComponent("!r:localhost")}`, { actions: [] })).status).toBe(200);
    g = await rules();
    expect(g.content[0]).toMatchObject({ rule_id: "cats", pattern: "cat*", default: false, enabled: true });
    expect(g.content[1]!.rule_id).toBe(".m.rule.contains_user_name");
    expect(g.room).toEqual([{ rule_id: "!r:localhost", default: false, enabled: true, actions: [] }]);

    const del = await s.call("DELETE", `${P}/global/override/three`, { token: alice.accessToken });
    expect(del.status).toBe(200);
    expect((await s.call("GET", `${P}/global/override/three`, { token: alice.accessToken })).status).toBe(
      404,
    );
  });

  it("toggles enabled and actions on default and user rules", async () => {
    const en = await put("override/.m.rule.master/enabled", { enabled: true });
    expect(en.status).toBe(200);
    const get = await s.call("GET", `${P}/global/override/.m.rule.master/enabled`, {
      token: alice.accessToken,
    });
    expect(get.body).toEqual({ enabled: true });
    await put("override/.m.rule.master/enabled", { enabled: false });
    await put("underride/.m.rule.message/actions", {
      actions: ["notify", { set_tweak: "sound", value: "ping" }],
    });
    const actions = await s.call("GET", `${P}/global/underride/.m.rule.message/actions`, {
      token: alice.accessToken,
    });
    expect(actions.body).toEqual({ actions: ["notify", { set_tweak: "sound", value: "ping" }] });
    await put("override/one/enabled", { enabled: false });
    expect((await rules()).override.find((r) => r.rule_id === "one")!.enabled).toBe(false);
  });

  it("rejects bad push-rule requests with the spec's errors", async () => {
    const cases: [string, string, unknown, number, string][] = [
      ["PUT", "override/.mine", { actions: [] }, 400, "M_INVALID_PARAM"],
      ["PUT", "nonsense/x", { actions: [] }, 400, "M_INVALID_PARAM"],
      ["PUT", "content/nopattern", { actions: ["notify"] }, 400, "M_MISSING_PARAM"],
      ["PUT", "override/noactions", {}, 400, "M_BAD_JSON"],
      ["PUT", "override/badaction", { actions: ["explode"] }, 400, "M_BAD_JSON"],
      ["PUT", "override/x/enabled", { enabled: "yes" }, 400, "M_BAD_JSON"],
      ["PUT", "override/missing/enabled", { enabled: true }, 404, "M_NOT_FOUND"],
      ["PUT", "override/.m.rule.nope/enabled", { enabled: true }, 404, "M_NOT_FOUND"],
      ["PUT", "override/one/colour", { colour: "red" }, 400, "M_UNRECOGNIZED"],
      ["GET", "override/missing", undefined, 404, "M_NOT_FOUND"],
      ["DELETE", "override/missing", undefined, 404, "M_NOT_FOUND"],
    ];
    for (const [method, path, body, status, errcode] of cases) {
      const r = await s.call(method, `${P}/global/${path}`, { token: alice.accessToken, body });
      expect({ path, status: r.status, errcode: r.body.errcode }).toEqual({ path, status, errcode });
    }
    const before = await s.call("PUT", `${P}/global/override/x?before=ghost`, {
      token: alice.accessToken,
      body: { actions: [] },
    });
    expect(before.status).toBe(400);
    expect(before.body.error).toContain("before/after rule not found");
    const beforeDefault = await s.call("PUT", `${P}/global/override/x?before=.m.rule.master`, {
      token: alice.accessToken,
      body: { actions: [] },
    });
    expect(beforeDefault.status).toBe(400);
    const badScope = await s.call("GET", `${P}/device/override/one`, { token: alice.accessToken });
    expect(badScope.status).toBe(400);
    // None of the failed requests created a rule.
    const g = await rules();
    expect(g.override.map((r) => r.rule_id)).not.toContain("x");
    expect(g.content.map((r) => r.rule_id)).not.toContain("nopattern");
  });

  it("answers push-rule paths without a scope, kind or rule id as Synapse does", async () => {
    const cases: [string, string, number, string | undefined][] = [
      ["GET", "", 404, "M_UNRECOGNIZED"],
      ["GET", "/global", 400, "M_UNRECOGNIZED"],
      ["GET", "/device/", 400, "M_UNRECOGNIZED"],
      ["GET", "/global/room", 400, "M_UNRECOGNIZED"],
      ["GET", "/global/room/one/enabled/more", 400, "M_UNRECOGNIZED"],
      ["PUT", "/", 400, "M_UNRECOGNIZED"],
      ["PUT", "/global", 400, "M_UNRECOGNIZED"],
      ["PUT", "/global/", 400, "M_UNRECOGNIZED"],
      ["PUT", "/global/room", 400, "M_UNRECOGNIZED"],
      ["PUT", "/global/room/", 400, "M_UNRECOGNIZED"],
      ["DELETE", "/global/room/", 400, "M_UNRECOGNIZED"],
      ["GET", "/", 200, undefined],
      ["GET", "/global/", 200, undefined],
      ["GET", "/global/room/", 200, undefined],
    ];
    for (const [method, path, status, errcode] of cases) {
      const body = method === "PUT" ? { actions: ["notify"] } : undefined;
      const r = await s.call(method, `${P}${path}`, { token: alice.accessToken, body });
      expect({ method, path, status: r.status, errcode: r.body.errcode }).toEqual({
        method,
        path,
        status,
        errcode,
      });
    }
    expect((await rules()).room.map((r) => r.rule_id)).not.toContain("");
  });

  it("delivers every change as m.push_rules account data in the next sync", async () => {
    const first = await s.call("GET", `${V3}/sync`, { token: alice.accessToken });
    await put("sender/%40spammer%3Alocalhost", { actions: [] });
    const next = await s.call("GET", `${V3}/sync?since=${first.body.next_batch}`, {
      token: alice.accessToken,
    });
    const events = (next.body.account_data as { events: { type: string; content: { global: Ruleset } }[] })
      .events;
    const pr = events.find((e) => e.type === "m.push_rules");
    expect(pr?.content.global.sender.map((r) => r.rule_id)).toEqual(["@spammer:localhost"]);
  });
});
