import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { unknownToken } from "../../companion-services/platform/errors.ts";
import {
  defineRoute,
  mountRoute,
  openApiDocument,
  pageOf,
  pageQuery,
  safeText,
  userIdSchema,
} from "../../companion-services/platform/http/api.ts";
import { Router } from "../../companion-services/platform/http/router.ts";
import { HttpServer } from "../../companion-services/platform/http/server.ts";
import { createLogger } from "../../companion-services/platform/logger.ts";

const list = defineRoute({
  method: "GET",
  path: "/_nova/v1/things/:userId",
  summary: "A user's things",
  tag: "test",
  params: z.object({ userId: userIdSchema }),
  query: pageQuery(2, 5),
  response: pageOf("things", z.object({ n: z.number() })),
});

const create = defineRoute({
  method: "POST",
  path: "/_nova/v1/things",
  summary: "Make a thing",
  tag: "test",
  body: z.object({ text: safeText(10) }).strict(),
  response: z.object({ text: z.string(), by: z.string() }),
  status: 201,
});

describe("typed /_nova/v1 routes", () => {
  let server: HttpServer;
  let base: string;
  const call = async (method: string, path: string, body?: string) => {
    const res = await fetch(base + path, {
      method,
      headers: { Authorization: "Bearer t", "Content-Type": "application/json" },
      body,
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };

  beforeAll(async () => {
    const router = new Router();
    mountRoute(router, list, async ({ params, query }) => ({
      things: Array.from({ length: query.limit }, (_, n) => ({ n })),
      ...(params.userId === "@a:x" ? { next: "c" } : {}),
    }));
    mountRoute(router, create, async ({ body, req }) => ({ text: body.text, by: req.auth?.userId ?? "" }));
    server = new HttpServer({
      router,
      logger: createLogger("silent"),
      maxRequestBody: 1024,
      slowRequestMs: 1000,
      authenticate: async (token) => {
        if (token !== "t") throw unknownToken();
        return { userId: "@me:x", deviceId: "D", sessionId: "s", isGuest: false };
      },
    });
    base = `http://127.0.0.1:${await server.listen("127.0.0.1", 0)}`;
  });
  afterAll(() => server.close(100));

  it("parses parameters, query and body with the definition's schemas", async () => {
    expect(await call("GET", "/_nova/v1/things/%40a%3Ax?limit=3")).toEqual({
      status: 200,
      body: { things: [{ n: 0 }, { n: 1 }, { n: 2 }], next: "c" },
    });
    expect((await call("GET", "/_nova/v1/things/%40b%3Ax")).body.things).toHaveLength(2);
    expect(await call("POST", "/_nova/v1/things", JSON.stringify({ text: "hi" }))).toEqual({
      status: 201,
      body: { text: "hi", by: "@me:x" },
    });
  });

  it("answers client mistakes with Matrix 400s", async () => {
    const bad = [
      await call("GET", "/_nova/v1/things/bob"),
      await call("GET", "/_nova/v1/things/%40a%3Ax?limit=6"),
      await call("GET", "/_nova/v1/things/%40a%3Ax?limit=x"),
      await call("GET", "/_nova/v1/things/%40a%3Ax%00"),
    ];
    for (const r of bad) expect([r.status, r.body.errcode]).toEqual([400, "M_INVALID_PARAM"]);
    const body = [
      await call("POST", "/_nova/v1/things", JSON.stringify({ text: "a\u0000b" })),
      await call("POST", "/_nova/v1/things", JSON.stringify({ text: "x".repeat(11) })),
      await call("POST", "/_nova/v1/things", JSON.stringify({ text: 1 })),
      await call("POST", "/_nova/v1/things", JSON.stringify({ text: "a", extra: 1 })),
    ];
    for (const r of body) expect([r.status, r.body.errcode]).toEqual([400, "M_BAD_JSON"]);
    expect((await call("POST", "/_nova/v1/things", "{")).body.errcode).toBe("M_NOT_JSON");
  });

  it("publishes the same schemas as OpenAPI 3.1", () => {
    const doc = openApiDocument([list, create], { title: "t", version: "1" }) as unknown as {
      openapi: string;
      paths: Record<
        string,
        Record<string, { parameters?: { name: string; in: string }[]; responses: object }>
      >;
    };
    expect(doc.openapi).toBe("3.1.0");
    const get = doc.paths["/_nova/v1/things/{userId}"]?.get;
    expect(get?.parameters?.map((p) => `${p.in}:${p.name}`)).toEqual([
      "path:userId",
      "query:from",
      "query:limit",
    ]);
    expect(Object.keys(doc.paths["/_nova/v1/things"]?.post?.responses ?? {})).toContain("201");
  });
});
