import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createIdentity } from "../../companion-services/identity/index.ts";
import type { IdentityService } from "../../companion-services/identity/service.ts";
import { Databases } from "../../companion-services/platform/database.ts";
import { metricValue } from "../helpers/metrics.ts";

describe("cache metrics", () => {
  let databases: Databases;
  let identity: IdentityService;

  beforeAll(async () => {
    databases = await Databases.open(["identity"], { dataDir: "memory://", urls: {} });
    identity = createIdentity(databases.get("identity"), {
      serverName: "test",
      accessTokenTtlMs: 0,
      loginFailuresPerMinute: 5,
    });
  });
  afterAll(() => databases.close());

  it("count identity's token cache hits, misses and entries", async () => {
    const session = await identity.register({ localpart: "cachey", password: "a long passphrase" });
    if (!("accessToken" in session)) throw new Error("no session");
    const before = {
      hits: await metricValue("nova_cache_hits_total", { cache: "identity_tokens" }),
      misses: await metricValue("nova_cache_misses_total", { cache: "identity_tokens" }),
    };
    await identity.verifyToken(session.accessToken);
    await identity.verifyToken(session.accessToken);
    await identity.verifyToken(session.accessToken);
    expect(await metricValue("nova_cache_misses_total", { cache: "identity_tokens" })).toBe(
      before.misses + 1,
    );
    expect(await metricValue("nova_cache_hits_total", { cache: "identity_tokens" })).toBe(before.hits + 2);
    expect(await metricValue("nova_cache_entries", { cache: "identity_tokens" })).toBeGreaterThanOrEqual(1);
  });
});
