import { randomBytes } from "node:crypto";
import { createLogger } from "../../companion-services/platform/logger.ts";
import { createNova, type Nova, type NovaOptions } from "../../server/app.ts";
import { loadConfig } from "../../server/config.ts";
import { freshDatabase } from "./database.ts";
import { GENEROUS_RATE_LIMITS } from "./rate-limits.ts";

export type TestServer = Nova & {
  /** Calls the server's HTTP API; returns status and parsed JSON. */
  call(
    method: string,
    path: string,
    opts?: { token?: string; body?: unknown; raw?: string },
  ): Promise<{ status: number; body: Record<string, unknown> }>;
  register(
    localpart?: string,
    password?: string,
  ): Promise<{ userId: string; deviceId: string; accessToken: string }>;
};

/**
 * Starts a homeserver on a free port with fresh storage: an in-memory PGlite, or — when
 * DATABASE_URL is set (CI) — a freshly created PostgreSQL database, dropped by `close()`.
 */
export async function startTestServer(
  env: Record<string, string> = {},
  opts: Omit<NovaOptions, "logger"> = {},
): Promise<TestServer> {
  const db = await freshDatabase();
  const config = loadConfig({
    ...GENEROUS_RATE_LIMITS,
    NOVA_PORT: "0",
    NOVA_DATA_DIR: "memory://",
    NOVA_LOG_LEVEL: "silent",
    ...(db ? { DATABASE_URL: db.url } : {}),
    ...env,
  });
  const nova = await createNova(config, {
    ...opts,
    logger: createLogger(process.env.NOVA_TEST_LOG ?? "silent"),
  });
  const baseUrl = `http://127.0.0.1:${nova.port}`;
  const call: TestServer["call"] = async (method, path, opts = {}) => {
    const headers: Record<string, string> = {};
    if (opts.token) headers.Authorization = `Bearer ${opts.token}`;
    let body: string | undefined;
    if (opts.raw !== undefined) body = opts.raw;
    else if (opts.body !== undefined) body = JSON.stringify(opts.body);
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const res = await fetch(baseUrl + path, { method, headers, body });
    const text = await res.text();
    let parsed: Record<string, unknown> = {};
    try {
      parsed = text ? (JSON.parse(text) as Record<string, unknown>) : {};
    } catch {
      parsed = { _raw: text };
    }
    return { status: res.status, body: parsed };
  };
  let counter = 0;
  const register: TestServer["register"] = async (localpart, password = "correct horse battery staple") => {
    const name = localpart ?? `user${++counter}_${randomBytes(3).toString("hex")}`;
    const r = await call("POST", "/_matrix/client/v3/register", {
      body: { username: name, password, auth: { type: "m.login.dummy" } },
    });
    if (r.status !== 200) throw new Error(`register failed: ${JSON.stringify(r.body)}`);
    return {
      userId: r.body.user_id as string,
      deviceId: r.body.device_id as string,
      accessToken: r.body.access_token as string,
    };
  };
  const closeNova = nova.close.bind(nova);
  const close = async () => {
    await closeNova();
    await db?.drop();
  };
  return Object.assign(nova, { baseUrl, call, register, close });
}
