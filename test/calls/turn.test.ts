import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { createHmac } from "node:crypto";
import { createSocket } from "node:dgram";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { turnCredentials } from "../../calls/turn.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";

const hasCoturn =
  spawnSync("sh", ["-c", "command -v turnserver && command -v turnutils_uclient"]).status === 0;

/** A UDP port that was free a moment ago (the TURN server binds it right after). */
async function freeUdpPort(): Promise<number> {
  const s = createSocket("udp4");
  await new Promise<void>((r) => s.bind(0, "127.0.0.1", r));
  const port = s.address().port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

describe("turn credentials (unit)", () => {
  it("follows coturn's REST-API scheme", () => {
    const creds = turnCredentials(
      { uris: ["turn:t.example:3478"], secret: "k", ttl: 60 },
      "@a:hs",
      1_000_000,
    );
    expect(creds).toEqual({
      username: "1060:@a:hs",
      password: createHmac("sha1", "k").update("1060:@a:hs").digest("base64"),
      uris: ["turn:t.example:3478"],
      ttl: 60,
    });
  });
  it("is empty without a secret", () => {
    expect(turnCredentials({ uris: ["turn:x"], secret: "", ttl: 60 }, "@a:hs")).toEqual({});
  });
});

describe("GET /voip/turnServer", () => {
  it("requires auth and answers {} when no TURN is configured", async () => {
    const s = await startTestServer();
    try {
      expect((await s.call("GET", "/_matrix/client/v3/voip/turnServer")).status).toBe(401);
      const u = await s.register();
      const r = await s.call("GET", "/_matrix/client/v3/voip/turnServer", { token: u.accessToken });
      expect(r).toEqual({ status: 200, body: {} });
    } finally {
      await s.close();
    }
  });
});

describe.skipIf(!hasCoturn)(
  "TURN relay with coturn (skipped: turnserver not installed, run .ci/coturn.sh)",
  () => {
    let server: TestServer;
    let turn: ChildProcess;
    let port: number;
    const secret = `nova-${Math.random().toString(36).slice(2)}`;

    beforeAll(async () => {
      port = await freeUdpPort();
      const relayMin = 40000 + Math.floor(Math.random() * 20000);
      turn = spawn(
        "turnserver",
        [
          "-n",
          "--listening-ip=127.0.0.1",
          "--relay-ip=127.0.0.1",
          `--listening-port=${port}`,
          `--min-port=${relayMin}`,
          `--max-port=${relayMin + 50}`,
          "--use-auth-secret",
          `--static-auth-secret=${secret}`,
          "--realm=nova.test",
          "--no-tls",
          "--no-dtls",
          "--no-cli",
          "--allow-loopback-peers",
          "--no-stdout-log",
          "--log-file=/dev/null",
          `--pidfile=/tmp/nova-turn-${port}.pid`,
        ],
        { stdio: "ignore" },
      );
      server = await startTestServer({
        NOVA_TURN_URIS: `turn:127.0.0.1:${port}?transport=udp`,
        NOVA_TURN_SECRET: secret,
        NOVA_TURN_TTL: "600",
      });
      await new Promise((r) => setTimeout(r, 800));
    });
    afterAll(async () => {
      turn?.kill("SIGTERM");
      await server?.close();
    });

    function allocate(username: string, password: string) {
      // -y: client-to-client through two relays; exits non-zero when an allocation is refused.
      return spawnSync(
        "turnutils_uclient",
        [
          "-y",
          "-n",
          "3",
          "-m",
          "1",
          "-l",
          "100",
          "-u",
          username,
          "-w",
          password,
          "-p",
          String(port),
          "127.0.0.1",
        ],
        { encoding: "utf8", timeout: 30_000 },
      );
    }

    it("allocates a relay with the endpoint's credentials and is refused with wrong ones", async () => {
      const u = await server.register();
      const r = await server.call("GET", "/_matrix/client/v3/voip/turnServer", { token: u.accessToken });
      expect(r.status).toBe(200);
      expect(r.body.uris).toEqual([`turn:127.0.0.1:${port}?transport=udp`]);
      expect(r.body.ttl).toBe(600);
      const username = r.body.username as string;
      expect(username).toMatch(new RegExp(`^\\d+:${u.userId.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}$`));

      const ok = allocate(username, r.body.password as string);
      expect(ok.status, ok.stdout + ok.stderr).toBe(0);
      const received = /tot_recv_msgs=(\d+)/.exec(ok.stdout.split("\n").reverse().join("\n"));
      expect(Number(received?.[1] ?? 0)).toBeGreaterThan(0);

      const bad = allocate(username, "bm90LXRoZS1wYXNzd29yZA==");
      expect(bad.status).not.toBe(0);
      expect(bad.stdout + bad.stderr).toMatch(/Cannot complete Allocation/);
    }, 60_000);
  },
);
