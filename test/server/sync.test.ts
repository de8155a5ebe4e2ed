import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestServer, type TestServer } from "../helpers/server.ts";

type Who = { userId: string; deviceId: string; accessToken: string };
type Body = Record<string, unknown>;

const V3 = "/_matrix/client/v3";

describe("/sync and filters", () => {
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

  const sync = async (who: Who, query = "") => {
    const r = await s.call("GET", `${V3}/sync${query ? `?${query}` : ""}`, { token: who.accessToken });
    return r;
  };

  it("uploads, dedupes and reads back filters; other users' and unknown filters are refused", async () => {
    const filter = {
      room: { timeline: { limit: 8 }, state: { lazy_load_members: true } },
      event_fields: ["type"],
    };
    const r = await s.call("POST", `${V3}/user/${alice.userId}/filter`, {
      token: alice.accessToken,
      body: filter,
    });
    expect(r.status).toBe(200);
    expect(typeof r.body.filter_id).toBe("string");
    const again = await s.call("POST", `${V3}/user/${alice.userId}/filter`, {
      token: alice.accessToken,
      body: { event_fields: ["type"], room: { state: { lazy_load_members: true }, timeline: { limit: 8 } } },
    });
    expect(again.body.filter_id).toBe(r.body.filter_id);
    const got = await s.call("GET", `${V3}/user/${alice.userId}/filter/${r.body.filter_id}`, {
      token: alice.accessToken,
    });
    expect(got.status).toBe(200);
    expect(got.body).toEqual(filter);

    const missing = await s.call("GET", `${V3}/user/${alice.userId}/filter/999999`, {
      token: alice.accessToken,
    });
    expect(missing.status).toBe(404);
    expect(missing.body.errcode).toBe("M_NOT_FOUND");
    const junkId = await s.call("GET", `${V3}/user/${alice.userId}/filter/abc`, { token: alice.accessToken });
    expect(junkId.body.errcode).toBe("M_NOT_FOUND");
    const other = await s.call("GET", `${V3}/user/${alice.userId}/filter/${r.body.filter_id}`, {
      token: bob.accessToken,
    });
    expect(other.status).toBe(403);
    expect(other.body.errcode).toBe("M_FORBIDDEN");
    const postOther = await s.call("POST", `${V3}/user/${alice.userId}/filter`, {
      token: bob.accessToken,
      body: {},
    });
    expect(postOther.status).toBe(403);
  });

  it("rejects malformed filters", async () => {
    const post = (body: unknown, raw?: string) =>
      s.call("POST", `${V3}/user/${alice.userId}/filter`, { token: alice.accessToken, body, raw });
    const wrongType = await post({ room: { timeline: { limit: "ten" } } });
    expect(wrongType.status).toBe(400);
    expect(wrongType.body.errcode).toBe("M_BAD_JSON");
    expect((await post({ event_format: "xml" })).body.errcode).toBe("M_BAD_JSON");
    expect((await post(["not", "an", "object"])).body.errcode).toBe("M_BAD_JSON");
    const notJson = await post(undefined, "{nope");
    expect(notJson.status).toBe(400);
    expect(notJson.body.errcode).toBe("M_NOT_JSON");
    const badUser = await s.call("POST", `${V3}/user/not-a-user/filter`, {
      token: alice.accessToken,
      body: {},
    });
    expect(badUser.status).toBe(400);
    expect(badUser.body.errcode).toBe("M_INVALID_PARAM");
  });

  it("initial sync carries next_batch and the push rules; unknown query parameters are ignored", async () => {
    const r = await sync(alice, "timeout=0&_cacheBuster=123&org.matrix.msc4222.use_state_after=true");
    expect(r.status).toBe(200);
    expect(r.body.next_batch).toMatch(/^s\d+_\d+$/);
    const events = (r.body.account_data as { events: { type: string; content: Body }[] }).events;
    const rules = events.find((e) => e.type === "m.push_rules");
    expect(rules).toBeDefined();
    expect((rules!.content.global as Body).override).toBeDefined();
  });

  it("rejects bad /sync parameters with their error codes", async () => {
    const cases: [string, string][] = [
      ["since=garbage", "M_INVALID_PARAM"],
      ["timeout=soon", "M_INVALID_PARAM"],
      ["full_state=maybe", "M_INVALID_PARAM"],
      ["set_presence=busy", "M_INVALID_PARAM"],
      ["filter=424242", "M_INVALID_PARAM"],
      [`filter=${encodeURIComponent("{bad json")}`, "M_BAD_JSON"],
      [`filter=${encodeURIComponent('{"room":{"timeline":{"limit":-1}}}')}`, "M_BAD_JSON"],
    ];
    for (const [q, errcode] of cases) {
      const r = await sync(alice, q);
      expect({ q, status: r.status, errcode: r.body.errcode }).toEqual({ q, status: 400, errcode });
    }
    const noToken = await s.call("GET", `${V3}/sync`);
    expect(noToken.status).toBe(401);
    expect(noToken.body.errcode).toBe("M_MISSING_TOKEN");
  });

  it("echoes account data written by the same client, filtered by the account_data filter", async () => {
    const first = await sync(alice);
    const put = await s.call("PUT", `${V3}/user/${alice.userId}/account_data/m.secret_storage.default_key`, {
      token: alice.accessToken,
      body: { key: "abc" },
    });
    expect(put.status).toBe(200);
    const next = await sync(alice, `since=${first.body.next_batch}&timeout=0`);
    expect((next.body.account_data as { events: unknown[] }).events).toEqual([
      { type: "m.secret_storage.default_key", content: { key: "abc" } },
    ]);
    // Nothing new after that.
    const after = await sync(alice, `since=${next.body.next_batch}&timeout=0`);
    expect(after.body.account_data).toBeUndefined();
    // Bob sees none of Alice's account data.
    const bobs = await sync(bob);
    const types = ((bobs.body.account_data as { events: { type: string }[] }).events ?? []).map(
      (e) => e.type,
    );
    expect(types).not.toContain("m.secret_storage.default_key");
    // An inline filter excluding the type hides it.
    const filtered = await sync(
      alice,
      `filter=${encodeURIComponent(JSON.stringify({ account_data: { not_types: ["m.secret_*"] } }))}`,
    );
    const filteredTypes = (filtered.body.account_data as { events: { type: string }[] }).events.map(
      (e) => e.type,
    );
    expect(filteredTypes).toContain("m.push_rules");
    expect(filteredTypes).not.toContain("m.secret_storage.default_key");
  });

  it("wakes a long-poll when account data is written, well before the timeout", async () => {
    const first = await sync(alice);
    const started = Date.now();
    const pending = sync(alice, `since=${first.body.next_batch}&timeout=20000`);
    await new Promise((r) => setTimeout(r, 200));
    await s.call("PUT", `${V3}/user/${alice.userId}/account_data/org.example.wake`, {
      token: alice.accessToken,
      body: { n: 1 },
    });
    const r = await pending;
    const elapsed = Date.now() - started;
    expect(elapsed).toBeLessThan(5000);
    expect((r.body.account_data as { events: { type: string }[] }).events.map((e) => e.type)).toEqual([
      "org.example.wake",
    ]);
  });

  it("returns an empty response with the same position when the long-poll times out", async () => {
    const first = await sync(bob);
    const started = Date.now();
    const r = await sync(bob, `since=${first.body.next_batch}&timeout=300`);
    expect(Date.now() - started).toBeGreaterThanOrEqual(250);
    expect(r.body.account_data).toBeUndefined();
    expect(r.body.next_batch).toBe(first.body.next_batch);
  });

  it("clamps a token from the future instead of hanging", async () => {
    const started = Date.now();
    const r = await sync(bob, "since=s999999999_1&timeout=0");
    expect(r.status).toBe(200);
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it("never skips a write committed by concurrent writers (incremental syncs see all of them)", async () => {
    const carol = await s.register("carol");
    const seen = new Set<string>();
    let token = (await sync(carol)).body.next_batch as string;
    const writes = Array.from({ length: 40 }, (_, i) =>
      s.call("PUT", `${V3}/user/${carol.userId}/account_data/org.example.c${i}`, {
        token: carol.accessToken,
        body: { i },
      }),
    );
    let done = false;
    const all = Promise.all(writes).then((rs) => {
      done = true;
      return rs;
    });
    // Sync in a loop while the writes are in flight, then once more after the last one.
    for (let round = 0; round < 200; round++) {
      const finished = done;
      const r = await sync(carol, `since=${token}&timeout=${finished ? 0 : 200}`);
      for (const e of (r.body.account_data as { events: { type: string }[] } | undefined)?.events ?? []) {
        seen.add(e.type);
      }
      token = r.body.next_batch as string;
      if (finished) break;
    }
    expect((await all).every((r) => r.status === 200)).toBe(true);
    expect([...seen].filter((t) => t.startsWith("org.example.c")).sort()).toEqual(
      Array.from({ length: 40 }, (_, i) => `org.example.c${i}`).sort(),
    );
  });

  it("applies a stored filter by id, and event_fields", async () => {
    const f = await s.call("POST", `${V3}/user/${alice.userId}/filter`, {
      token: alice.accessToken,
      body: { event_fields: ["type", "content.n"], account_data: { types: ["org.example.*"] } },
    });
    const r = await sync(alice, `filter=${f.body.filter_id}`);
    expect(r.status).toBe(200);
    expect((r.body.account_data as { events: unknown[] }).events).toEqual([
      { type: "org.example.wake", content: { n: 1 } },
    ]);
  });
});
