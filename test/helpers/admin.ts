import { startTestServer, type TestServer } from "./server.ts";

/** A test server with one server admin (@root), for the admin API's tests. */
export async function startAdminServer(): Promise<{ s: TestServer; admin: string; adminId: string }> {
  const s = await startTestServer();
  const r = await s.identity.register({
    localpart: "root",
    password: "correct horse battery staple",
    admin: true,
  });
  return { s, admin: (r as { accessToken: string }).accessToken, adminId: r.userId };
}
