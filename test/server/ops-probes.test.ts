import net from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AddressInUseError } from "../../companion-services/platform/http/listen-error.ts";
import { readiness } from "../../companion-services/platform/http/ops-listener.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";

describe("admin listener: /metrics, /health, /ready (NOVA_ADMIN_PORT)", () => {
  let s: TestServer;
  let admin: string;
  let user: string;
  let opsBase: string;

  beforeAll(async () => {
    s = await startTestServer({ NOVA_ADMIN_PORT: "0" });
    admin = (
      (await s.identity.register({ localpart: "root", password: "pw-root-123456", admin: true })) as {
        accessToken: string;
      }
    ).accessToken;
    user = (await s.register()).accessToken;
    expect(s.adminPort).toBeGreaterThan(0);
    opsBase = `http://127.0.0.1:${s.adminPort}`;
  });
  afterAll(() => s?.close());

  it("serves Prometheus metrics, liveness and readiness without a token", async () => {
    await fetch(`${s.baseUrl}/_matrix/client/versions`);
    const m = await fetch(`${opsBase}/metrics`);
    expect(m.status).toBe(200);
    expect(m.headers.get("content-type")).toMatch(/^text\/plain/);
    const text = await m.text();
    expect(text).toMatch(
      /nova_http_request_duration_seconds_count\{[^}]*route="\/_matrix\/client\/versions"/,
    );
    expect(text).toContain("process_resident_memory_bytes");
    expect(await (await fetch(`${opsBase}/health`)).json()).toEqual({ status: "ok", service: "homeserver" });
    const r = await fetch(`${opsBase}/ready`);
    expect(r.status).toBe(200);
    expect(await r.json()).toEqual({ status: "ready", service: "homeserver" });
    expect((await fetch(`${opsBase}/health`, { method: "HEAD" })).status).toBe(200);
  });

  it("answers nothing else", async () => {
    expect((await fetch(`${opsBase}/_matrix/client/versions`)).status).toBe(404);
    expect((await fetch(`${opsBase}/metrics`, { method: "POST" })).status).toBe(405);
  });

  it("on the client port, /metrics needs a server admin; /health and /ready are public", async () => {
    expect((await fetch(`${s.baseUrl}/metrics`)).status).toBe(401);
    const forbidden = await fetch(`${s.baseUrl}/metrics`, { headers: { Authorization: `Bearer ${user}` } });
    expect(forbidden.status).toBe(403);
    expect(((await forbidden.json()) as { errcode: string }).errcode).toBe("M_FORBIDDEN");
    const ok = await fetch(`${s.baseUrl}/metrics`, { headers: { Authorization: `Bearer ${admin}` } });
    expect(ok.status).toBe(200);
    expect(await ok.text()).toContain("nova_http_request_duration_seconds");
    expect(await (await fetch(`${s.baseUrl}/health`)).json()).toEqual({ status: "ok" });
    expect(await (await fetch(`${s.baseUrl}/ready`)).json()).toEqual({ status: "ready" });
  });

  it("says not ready, with the reason, while the server shuts down", async () => {
    const t = await startTestServer({ NOVA_ADMIN_PORT: "0" });
    const base = `http://127.0.0.1:${t.adminPort}`;
    // A request in flight holds the drain (shutdown waits for it) long enough to be probed.
    let finish: () => void = () => {};
    t.ctx.router.get(
      "/_nova/test/hold",
      () => new Promise((resolve) => (finish = () => resolve({ body: {} }))),
      { auth: "none" },
    );
    const held = fetch(`${t.baseUrl}/_nova/test/hold`);
    await new Promise((r) => setTimeout(r, 200));
    const closing = t.close();
    const during = await fetch(`${base}/ready`);
    expect(during.status).toBe(503);
    expect(await during.json()).toMatchObject({ status: "not ready", reasons: ["shutting down"] });
    finish();
    expect((await held).status).toBe(200);
    await closing;
    await expect(fetch(`${base}/health`)).rejects.toThrow();
  });

  it("a busy admin port refuses start with AddressInUseError and frees the client port", async () => {
    const holder = net.createServer();
    const busy = await new Promise<number>((resolve) =>
      holder.listen({ host: "127.0.0.1", port: 0, exclusive: true }, () =>
        resolve((holder.address() as net.AddressInfo).port),
      ),
    );
    const clientPort = await new Promise<number>((resolve) => {
      const probe = net.createServer().listen({ host: "127.0.0.1", port: 0 }, () => {
        const p = (probe.address() as net.AddressInfo).port;
        probe.close(() => resolve(p));
      });
    });
    try {
      await expect(
        startTestServer({ NOVA_PORT: String(clientPort), NOVA_ADMIN_PORT: String(busy) }),
      ).rejects.toThrow(new AddressInUseError("127.0.0.1", busy));
      const again = await startTestServer({ NOVA_PORT: String(clientPort) });
      expect(again.port).toBe(clientPort);
      await again.close();
    } finally {
      holder.close();
    }
  });
});

describe("readiness checks", () => {
  it("collects every failing check's reason, and a check that hangs is one", async () => {
    const check = readiness(
      {
        ok: () => null,
        db: () => Promise.reject(new Error("connection refused")),
        slow: () => new Promise<string | null>(() => {}),
        draining: () => "shutting down",
      },
      100,
    );
    expect((await check()).sort()).toEqual(
      ["db: connection refused", "shutting down", "slow: no answer within 100 ms"].sort(),
    );
  });
});
