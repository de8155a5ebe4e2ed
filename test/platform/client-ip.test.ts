import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { parseEnv } from "../../companion-services/platform/config.ts";
import { ClientAddress, isAddressOrRange } from "../../companion-services/platform/http/client-ip.ts";
import { Router } from "../../companion-services/platform/http/router.ts";
import { HttpServer } from "../../companion-services/platform/http/server.ts";
import { operationsEnvSchema } from "../../server/operations-config.ts";

describe("client address behind trusted proxies (NOVA_TRUSTED_PROXIES)", () => {
  const none = new ClientAddress([]);
  const proxies = new ClientAddress(["10.0.0.0/8", "::1", "127.0.0.1"]);

  it("is the peer when no proxy is trusted, whatever X-Forwarded-For says", () => {
    expect(none.of("203.0.113.9", "198.51.100.1")).toBe("203.0.113.9");
  });

  it("shows IPv4 peers as IPv4 (uWS reports them IPv4-mapped)", () => {
    expect(none.of("0000:0000:0000:0000:0000:ffff:7f00:0001", undefined)).toBe("127.0.0.1");
  });

  it("takes the right-most untrusted hop, so a client cannot forge its address", () => {
    // The client wrote "1.2.3.4" itself; the proxy 10.0.0.5 appended the real peer 198.51.100.7.
    expect(proxies.of("10.0.0.5", "1.2.3.4, 198.51.100.7")).toBe("198.51.100.7");
    expect(proxies.of("127.0.0.1", "198.51.100.7, 10.1.2.3")).toBe("198.51.100.7");
    expect(proxies.of("::1", "2001:db8::5")).toBe("2001:db8::5");
  });

  it("ignores X-Forwarded-For from a peer that is not a trusted proxy", () => {
    expect(proxies.of("203.0.113.9", "198.51.100.7")).toBe("203.0.113.9");
  });

  it("stops believing at a malformed entry, and uses the left-most when every hop is trusted", () => {
    expect(proxies.of("10.0.0.5", "junk")).toBe("10.0.0.5");
    expect(proxies.of("10.0.0.5", "10.9.9.9, 10.0.0.4")).toBe("10.9.9.9");
  });

  it("validates the setting: one line naming the variable", () => {
    expect(isAddressOrRange("10.0.0.0/8")).toBe(true);
    expect(isAddressOrRange("fd00::/8")).toBe(true);
    expect(isAddressOrRange("proxy.local")).toBe(false);
    expect(() => parseEnv(operationsEnvSchema, { NOVA_TRUSTED_PROXIES: "10.0.0.1,nope" })).toThrow(
      /NOVA_TRUSTED_PROXIES: expected IP addresses or CIDR ranges/,
    );
  });

  it("reaches handlers and the request log over HTTP", async () => {
    const lines: { ip?: string; msg: string }[] = [];
    const logger = pino({ level: "info" }, { write: (s: string) => void lines.push(JSON.parse(s)) });
    const router = new Router().get("/_nova/v1/ip", (req) => ({ body: { ip: req.ip } }), { auth: "none" });
    const server = new HttpServer({
      router,
      logger,
      maxRequestBody: 1024,
      authenticate: () => Promise.reject(new Error("no tokens here")),
      clientAddress: new ClientAddress(["127.0.0.1"]),
    });
    const port = await server.listen("127.0.0.1", 0);
    try {
      const res = await fetch(`http://127.0.0.1:${port}/_nova/v1/ip`, {
        headers: { "X-Forwarded-For": "9.9.9.9, 198.51.100.7" },
      });
      expect(await res.json()).toEqual({ ip: "198.51.100.7" });
      expect(lines.find((l) => l.msg === "request")?.ip).toBe("198.51.100.7");
    } finally {
      await server.close();
    }
  });
});
