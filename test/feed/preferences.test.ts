import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { encodeCursor } from "../../companion-services/feed/cursor.ts";
import { FEED_ROUTES } from "../../companion-services/feed/index.ts";
import { openApiDocument } from "../../companion-services/platform/http/api.ts";
import { type FeedEnv, feedEnv } from "./helpers.ts";

const alice = "@alice:test";
const bob = "@bob:test";
const carol = "@carol:test";

describe("feed preferences and bad input", () => {
  let env: FeedEnv;
  beforeAll(async () => {
    env = await feedEnv();
  });
  afterAll(async () => {
    await env?.close();
  });

  it("answers the defaults, then keeps what a PUT sets (fields left out keep their value)", async () => {
    expect(await env.call("GET", "/_nova/v1/feed/preferences", "dave")).toEqual({
      status: 200,
      body: { muted_user_ids: [], hide_shares: false, languages: [] },
    });
    const put = await env.call("PUT", "/_nova/v1/feed/preferences", "dave", {
      muted_user_ids: [bob, bob],
      languages: ["EN"],
    });
    expect(put).toEqual({
      status: 200,
      body: { muted_user_ids: [bob], hide_shares: false, languages: ["en"] },
    });
    await env.call("PUT", "/_nova/v1/feed/preferences", "dave", { hide_shares: true });
    expect((await env.call("GET", "/_nova/v1/feed/preferences", "dave")).body).toEqual({
      muted_user_ids: [bob],
      hide_shares: true,
      languages: ["en"],
    });
  });

  it("honours muted authors, hidden shares and languages", async () => {
    env.graph.follow(alice, bob);
    env.graph.follow(alice, carol);
    const plain = await env.events.post({ authorId: bob, createdAt: 1 });
    const share = await env.events.post({ authorId: bob, createdAt: 2, sharedPostId: plain.id });
    const english = await env.events.post({ authorId: bob, createdAt: 3, language: "en-GB" });
    const french = await env.events.post({ authorId: bob, createdAt: 4, language: "fr" });
    const byCarol = await env.events.post({ authorId: carol, createdAt: 5 });
    const all = [byCarol.id, french.id, english.id, share.id, plain.id];
    expect((await env.page("alice")).ids).toEqual(all);

    await env.call("PUT", "/_nova/v1/feed/preferences", "alice", { muted_user_ids: [carol] });
    expect((await env.page("alice")).ids).toEqual(all.slice(1));
    await env.call("PUT", "/_nova/v1/feed/preferences", "alice", { hide_shares: true });
    expect((await env.page("alice")).ids).toEqual([french.id, english.id, plain.id]);
    // `en` takes en-GB; posts without a language always pass.
    await env.call("PUT", "/_nova/v1/feed/preferences", "alice", { languages: ["en"] });
    expect((await env.page("alice")).ids).toEqual([english.id, plain.id]);
    await env.call("PUT", "/_nova/v1/feed/preferences", "alice", {
      muted_user_ids: [],
      hide_shares: false,
      languages: [],
    });
    expect((await env.page("alice")).ids).toEqual(all);
  });

  it("fills a page past filtered posts and hands out a cursor that continues after them", async () => {
    env.graph.follow("@erin:test", bob);
    env.graph.follow("@erin:test", carol);
    const bobs = [];
    for (let i = 0; i < 30; i++) bobs.push(await env.events.post({ authorId: bob, createdAt: 100 + i }));
    const c1 = await env.events.post({ authorId: carol, createdAt: 50 });
    const c2 = await env.events.post({ authorId: carol, createdAt: 40 });
    await env.call("PUT", "/_nova/v1/feed/preferences", "erin", { muted_user_ids: [bob] });
    const first = await env.page("erin", "?limit=1");
    expect(first.ids).toEqual([c1.id]);
    expect(first.next).toBeDefined();
    const second = await env.page("erin", `?limit=1&from=${first.next}`);
    expect(second.ids).toEqual([c2.id]);
  });

  it("refuses bad preference values with 400", async () => {
    const bad: unknown[] = [
      { muted_user_ids: "@bob:test" },
      { muted_user_ids: ["bob"] },
      { muted_user_ids: ["@bob\u0000:test"] },
      { muted_user_ids: Array.from({ length: 1_001 }, (_, i) => `@u${i}:test`) },
      { hide_shares: "yes" },
      { languages: ["english language"] },
      { languages: [42] },
      { languages: Array.from({ length: 21 }, () => "en") },
      [],
    ];
    for (const body of bad) {
      const r = await env.call("PUT", "/_nova/v1/feed/preferences", "frank", body);
      expect(r.status, JSON.stringify(body).slice(0, 80)).toBe(400);
      expect(r.body.errcode).toMatch(/^M_/);
    }
    const notJson = await env.call("PUT", "/_nova/v1/feed/preferences", "frank", "{nope");
    expect(notJson).toMatchObject({ status: 400, body: { errcode: "M_NOT_JSON" } });
    expect((await env.call("GET", "/_nova/v1/feed/preferences", "frank")).body).toEqual({
      muted_user_ids: [],
      hide_shares: false,
      languages: [],
    });
  });

  it("refuses a bad cursor or limit with 400 and a missing token with 401", async () => {
    const bad = [
      "?limit=abc",
      "?limit=0",
      "?limit=101",
      "?limit=2.5",
      "?from=not*a*cursor",
      "?from=AAAA",
      `?from=${Buffer.from(JSON.stringify({ s: "x", p: 1 })).toString("base64url")}`,
      `?from=${Buffer.from(JSON.stringify({ s: -1, p: "x" })).toString("base64url")}`,
      `?from=${"A".repeat(600)}`,
    ];
    for (const q of bad) {
      const r = await env.call("GET", `/_nova/v1/feed${q}`, "alice");
      expect(r.status, q).toBe(400);
      expect(r.body.errcode, q).toBe("M_INVALID_PARAM");
    }
    const ok = await env.call("GET", `/_nova/v1/feed?from=${encodeCursor({ score: 1, postId: "x" })}`, "zed");
    expect(ok).toEqual({ status: 200, body: { posts: [] } });
    expect((await env.call("GET", "/_nova/v1/feed", null)).status).toBe(401);
    expect((await env.call("PUT", "/_nova/v1/feed/preferences", null, {})).status).toBe(401);
  });

  it("publishes its routes in the OpenAPI document", () => {
    const doc = openApiDocument(FEED_ROUTES, { title: "feed", version: "1" });
    expect(Object.keys(doc.paths ?? {}).sort()).toEqual(["/_nova/v1/feed", "/_nova/v1/feed/preferences"]);
    expect(doc.paths?.["/_nova/v1/feed/preferences"]?.put).toBeDefined();
  });
});
