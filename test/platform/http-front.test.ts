import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { unknownToken } from "../../companion-services/platform/errors.ts";
import { Router } from "../../companion-services/platform/http/router.ts";
import { HttpServer } from "../../companion-services/platform/http/server.ts";
import { createLogger } from "../../companion-services/platform/logger.ts";

/**
 * Any service can serve its own HTTP routes from the platform's front, with nothing of the
 * homeserver: a router, an authenticator (identity's VerifyToken in a real service) and a limit.
 */
describe("platform HTTP front, as a companion service would serve it", () => {
  let server: HttpServer;
  let base: string;

  beforeAll(async () => {
    const router = new Router()
      .add("GET", "/_nova/v1/whoami", (req) => ({ body: { user_id: req.auth?.userId } }))
      .add(
        "POST",
        "/_nova/v1/echo/:name",
        (req) => ({ body: { name: req.params.name, ...req.json(z.object({ n: z.number().int() })) } }),
        { maxBody: 64 },
      )
      .add("GET", "/_nova/v1/public", () => ({ body: { ok: true } }), { auth: "none" });
    server = new HttpServer({
      router,
      logger: createLogger("silent"),
      maxRequestBody: 1024,
      authenticate: async (token) => {
        if (token !== "good") throw unknownToken();
        return { userId: "@a:test", deviceId: "D", sessionId: "s", isGuest: false };
      },
    });
    const port = await server.listen("127.0.0.1", 0);
    base = `http://127.0.0.1:${port}`;
  });
  afterAll(() => server.close());

  const call = async (path: string, init: RequestInit = {}) => {
    const r = await fetch(`${base}${path}`, init);
    return { status: r.status, body: (await r.json()) as Record<string, unknown>, headers: r.headers };
  };

  it("authenticates through the service's authenticator", async () => {
    expect(await call("/_nova/v1/whoami", { headers: { Authorization: "Bearer good" } })).toMatchObject({
      status: 200,
      body: { user_id: "@a:test" },
    });
    expect((await call("/_nova/v1/whoami")).body.errcode).toBe("M_MISSING_TOKEN");
    const bad = await call("/_nova/v1/whoami", { headers: { Authorization: "Bearer bad" } });
    expect([bad.status, bad.body.errcode]).toEqual([401, "M_UNKNOWN_TOKEN"]);
    expect((await call("/_nova/v1/public")).body).toEqual({ ok: true });
  });

  it("maps bad input to Matrix errors, never a 500", async () => {
    const auth = { Authorization: "Bearer good", "Content-Type": "application/json" };
    const post = (body: string) => call("/_nova/v1/echo/x%20y", { method: "POST", headers: auth, body });
    expect(await post('{"n":3}')).toMatchObject({ status: 200, body: { name: "x y", n: 3 } });
    expect((await post("{nope")).body.errcode).toBe("M_NOT_JSON");
    expect((await post('{"n":"3"}')).body.errcode).toBe("M_BAD_JSON");
    expect((await post(JSON.stringify({ n: 1, pad: "x".repeat(100) }))).status).toBe(413);
    const unknown = await call("/_nova/v1/nothing-here");
    expect([unknown.status, unknown.body.errcode]).toEqual([404, "M_UNRECOGNIZED"]);
    const wrong = await call("/_nova/v1/public", { method: "DELETE" });
    expect(wrong.status).toBe(405);
  });

  it("answers CORS preflights", async () => {
    const r = await fetch(`${base}/_nova/v1/whoami`, { method: "OPTIONS" });
    expect(r.headers.get("access-control-allow-origin")).toBe("*");
  });
});
