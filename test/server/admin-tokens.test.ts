import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestServer, type TestServer } from "../helpers/server.ts";

const A = "/_synapse/admin/v1/registration_tokens";

describe("admin API: registration tokens", () => {
  let s: TestServer;
  let admin: string;
  beforeAll(async () => {
    s = await startTestServer({ NOVA_REGISTRATION: "token" });
    const r = await s.identity.register({ localpart: "root", password: "pw pw pw pw", admin: true });
    admin = (r as { accessToken: string }).accessToken;
  });
  afterAll(async () => {
    await s.close();
  });
  const call = (method: string, path: string, body?: unknown) =>
    s.call(method, A + path, { token: admin, body });

  it("creates, lists (valid filter), reads, updates and deletes tokens", async () => {
    const made = await call("POST", "/new", { token: "abc", uses_allowed: 1 });
    expect(made.body).toEqual({ token: "abc", uses_allowed: 1, pending: 0, completed: 0, expiry_time: null });
    const random = await call("POST", "/new", { expiry_time: 1 });
    expect(typeof random.body.token).toBe("string");
    expect((await call("POST", "/new", { token: "abc" })).status).toBe(400);
    const valid = await call("GET", "?valid=true");
    expect((valid.body.registration_tokens as { token: string }[]).map((t) => t.token)).toEqual(["abc"]);
    const invalid = await call("GET", "?valid=false");
    expect((invalid.body.registration_tokens as { token: string }[]).map((t) => t.token)).toEqual([
      random.body.token,
    ]);
    expect((await call("GET", "")).body.registration_tokens).toHaveLength(2);
    expect((await call("PUT", "/abc", { uses_allowed: 5 })).body.uses_allowed).toBe(5);
    expect((await call("GET", "/abc")).body.uses_allowed).toBe(5);
    expect((await call("DELETE", "/abc")).status).toBe(200);
    expect((await call("GET", "/abc")).status).toBe(404);
    expect((await call("DELETE", "/abc")).status).toBe(404);
  });
});
