import { afterAll, describe, expect, it } from "vitest";
import { type ServerProcess, startServerProcess } from "../helpers/process.ts";

describe("graceful shutdown", () => {
  let server: ServerProcess | undefined;
  afterAll(async () => {
    await server?.stop("SIGKILL");
  });

  it("answers an in-flight long-poll /sync with 200 and the current next_batch on SIGTERM, then exits", async () => {
    server = await startServerProcess();
    const base = server.baseUrl;
    const reg = await fetch(`${base}/_matrix/client/v3/register`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({
        username: "sleeper",
        password: "pw-long-enough",
        auth: { type: "m.login.dummy" },
      }),
    });
    expect(reg.status).toBe(200);
    const { access_token: token } = (await reg.json()) as { access_token: string };
    const auth = { Authorization: `Bearer ${token}` };
    const initial = (await (await fetch(`${base}/_matrix/client/v3/sync`, { headers: auth })).json()) as {
      next_batch: string;
    };

    const started = Date.now();
    const poll = fetch(`${base}/_matrix/client/v3/sync?since=${initial.next_batch}&timeout=60000`, {
      headers: auth,
    });
    // Nothing happens for this user: without the drain the request would wait its full minute.
    await new Promise((r) => setTimeout(r, 1500));
    const exited = new Promise<number | null>((r) => server!.child.once("exit", (c) => r(c)));
    server.child.kill("SIGTERM");

    const res = await poll;
    expect(res.status).toBe(200);
    const body = (await res.json()) as { next_batch?: string; rooms?: unknown };
    expect(body.next_batch).toBe(initial.next_batch);
    expect(body.rooms).toBeUndefined();
    expect(await exited).toBe(0);
    // Bounded: well inside the long-poll's timeout and the server's own 15 s deadline.
    expect(Date.now() - started).toBeLessThan(15_000);
    server = undefined;
  }, 120_000);
});
