import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { unknownToken } from "../../companion-services/platform/errors.ts";
import { redactPath } from "../../companion-services/platform/http/request-log.ts";
import { Router } from "../../companion-services/platform/http/router.ts";
import { HttpServer } from "../../companion-services/platform/http/server.ts";

type Line = Record<string, unknown> & { level: number; msg: string };

const TOKEN = "nova_at_s3cr3tT0kenValue";
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("request log", () => {
  const lines: Line[] = [];
  let server: HttpServer;
  let base: string;

  beforeAll(async () => {
    const logger = pino(
      { level: "info" },
      {
        write(s: string) {
          lines.push(JSON.parse(s) as Line);
        },
      },
    );
    const router = new Router()
      .get("/_nova/v1/whoami", (req) => ({ body: { user_id: req.auth?.userId, request_id: req.requestId } }))
      .get("/_nova/v1/slow", async () => {
        await sleep(80);
        return { body: {} };
      })
      .get(
        "/_nova/v1/poll",
        async () => {
          await sleep(80);
          return { body: {} };
        },
        { auth: "none" },
      )
      .get(
        "/_nova/v1/hang",
        async (req) => {
          await req.aborted;
          return { body: {} };
        },
        { auth: "none" },
      )
      .get("/_nova/v1/tokens/:token", () => ({ body: {} }), { auth: "none" });
    server = new HttpServer({
      router,
      logger,
      maxRequestBody: 1024,
      slowRequestMs: 50,
      authenticate: async (token) => {
        if (token !== TOKEN) throw unknownToken();
        return { userId: "@alice:test", deviceId: "DEV1", sessionId: "s", isGuest: false };
      },
    });
    base = `http://127.0.0.1:${await server.listen("127.0.0.1", 0)}`;
  });
  afterAll(() => server.close(100));

  /** The log lines written for the request with this id (written before the response is sent). */
  const linesOf = (id: string | null) => lines.filter((l) => l.request_id === id);

  it("logs one line per request with method, path, status, duration, user, device and request id", async () => {
    const res = await fetch(`${base}/_nova/v1/whoami`, { headers: { Authorization: `Bearer ${TOKEN}` } });
    expect(res.status).toBe(200);
    const id = res.headers.get("x-request-id");
    expect(id).toMatch(/^[0-9a-f]{10}-[0-9a-z]+$/);
    // Handlers see the same id.
    expect(((await res.json()) as { request_id: string }).request_id).toBe(id);
    const mine = linesOf(id);
    expect(mine).toHaveLength(1);
    expect(mine[0]).toMatchObject({
      level: 30,
      msg: "request",
      method: "GET",
      path: "/_nova/v1/whoami",
      route: "/_nova/v1/whoami",
      status: 200,
      user: "@alice:test",
      device: "DEV1",
      ip: expect.stringMatching(/127\.0\.0\.1/),
    });
    expect(typeof mine[0]!.ms).toBe("number");
    expect(mine[0]!.slow).toBeUndefined();
  });

  it("keeps a sane incoming X-Request-Id and replaces one that is not", async () => {
    const kept = await fetch(`${base}/_nova/v1/whoami`, { headers: { "X-Request-Id": "lb-1234.abc" } });
    expect(kept.headers.get("x-request-id")).toBe("lb-1234.abc");
    expect(linesOf("lb-1234.abc")[0]).toMatchObject({ status: 401 });
    const odd = "x".repeat(65);
    const replaced = await fetch(`${base}/_nova/v1/whoami`, { headers: { "X-Request-Id": odd } });
    expect(replaced.headers.get("x-request-id")).not.toBe(odd);
    expect(linesOf(replaced.headers.get("x-request-id"))).toHaveLength(1);
  });

  it("redacts access tokens in the query and token-like path segments", async () => {
    const res = await fetch(`${base}/_nova/v1/whoami?access_token=${TOKEN}&since=s1`);
    expect(res.status).toBe(200);
    expect(linesOf(res.headers.get("x-request-id"))[0]).toMatchObject({
      path: "/_nova/v1/whoami?access_token=<redacted>&since=s1",
      user: "@alice:test",
    });
    const seg = await fetch(`${base}/_nova/v1/tokens/${TOKEN}`);
    expect(linesOf(seg.headers.get("x-request-id"))[0]).toMatchObject({
      path: "/_nova/v1/tokens/<redacted>",
    });
    expect(JSON.stringify(lines)).not.toContain("s3cr3t");
  });

  it("logs unmatched paths (404) too", async () => {
    const res = await fetch(`${base}/_nova/v1/nothing-here`);
    expect(res.status).toBe(404);
    expect(linesOf(res.headers.get("x-request-id"))[0]).toMatchObject({
      status: 404,
      route: "unmatched",
      path: "/_nova/v1/nothing-here",
    });
  });

  it("flags a slow request at warn, but not a long-poll that asked for a timeout", async () => {
    const slow = await fetch(`${base}/_nova/v1/slow`, { headers: { Authorization: `Bearer ${TOKEN}` } });
    expect(linesOf(slow.headers.get("x-request-id"))[0]).toMatchObject({
      level: 40,
      slow: true,
      status: 200,
    });
    const poll = await fetch(`${base}/_nova/v1/poll?timeout=30000`);
    const line = linesOf(poll.headers.get("x-request-id"))[0]!;
    expect(line).toMatchObject({ level: 30, status: 200 });
    expect(line.ms as number).toBeGreaterThan(50);
    expect(line.slow).toBeUndefined();
    // timeout=0 is not a long-poll.
    const quick = await fetch(`${base}/_nova/v1/poll?timeout=0`);
    expect(linesOf(quick.headers.get("x-request-id"))[0]).toMatchObject({ level: 40, slow: true });
  });

  it("logs a request the client abandoned as 499", async () => {
    const before = lines.length;
    const ctl = new AbortController();
    const pending = fetch(`${base}/_nova/v1/hang?x=1`, { signal: ctl.signal }).catch(() => null);
    await sleep(50);
    ctl.abort();
    await pending;
    for (let i = 0; i < 50 && !lines.slice(before).some((l) => l.status === 499); i++) await sleep(10);
    expect(lines.slice(before).find((l) => l.status === 499)).toMatchObject({
      path: "/_nova/v1/hang?x=1",
      route: "/_nova/v1/hang",
    });
  });

  it("logs nothing per request when the level is above info, except slow requests", async () => {
    const quiet: Line[] = [];
    const logger = pino({ level: "warn" }, { write: (s: string) => void quiet.push(JSON.parse(s) as Line) });
    const router = new Router()
      .get("/fast", () => ({ body: {} }), { auth: "none" })
      .get(
        "/slow",
        async () => {
          await sleep(30);
          return { body: {} };
        },
        { auth: "none" },
      );
    const s = new HttpServer({
      router,
      logger,
      maxRequestBody: 64,
      slowRequestMs: 10,
      authenticate: async () => ({}) as never,
    });
    const port = await s.listen("127.0.0.1", 0);
    await fetch(`http://127.0.0.1:${port}/fast`);
    await fetch(`http://127.0.0.1:${port}/slow`);
    await s.close(100);
    expect(quiet.map((l) => l.path)).toEqual(["/slow"]);
  });
});

describe("redactPath", () => {
  it("redacts secret query parameters and keeps the rest", () => {
    expect(redactPath("/x", "access_token=abc&client_secret=s&token=t&from=1")).toBe(
      "/x?access_token=<redacted>&client_secret=<redacted>&token=<redacted>&from=1",
    );
    expect(redactPath("/_matrix/client/v3/sync", "since=s72&timeout=30000")).toBe(
      "/_matrix/client/v3/sync?since=s72&timeout=30000",
    );
  });

  it("redacts token-shaped path segments and registration tokens, not event or room ids", () => {
    expect(redactPath("/_synapse/admin/v1/registration_tokens/abcd1234", "")).toBe(
      "/_synapse/admin/v1/registration_tokens/<redacted>",
    );
    expect(redactPath("/a/syt_dXNlcg_abc/b", "")).toBe("/a/<redacted>/b");
    const eventPath = "/_matrix/client/v3/rooms/!r_1:x/event/$Abc_def";
    expect(redactPath(eventPath, "")).toBe(eventPath);
  });
});
