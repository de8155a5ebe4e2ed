import { spawnSync } from "node:child_process";
import path from "node:path";
import { describe, expect, it } from "vitest";

/**
 * CI runs the WebSocket fan-out benchmark with tiny parameters: it must complete, and with both
 * backends its two-replica fan-out must have run and delivered.
 */
describe("bench/ws-fanout.ts smoke run", () => {
  it("completes with tiny parameters and prints its report", () => {
    const root = path.resolve(import.meta.dirname, "../..");
    const r = spawnSync(
      process.execPath,
      ["--import", "tsx", "bench/ws-fanout.ts", "--smoke", "--no-report"],
      {
        cwd: root,
        encoding: "utf8",
        timeout: 290_000,
      },
    );
    expect(r.status, `${r.stdout}\n${r.stderr}`).toBe(0);
    expect(r.stdout).toContain("delivered events/s at saturation");
    expect(r.stdout).toMatch(/\| one replica \| 50 \|/);
    const backends =
      process.env.DATABASE_URL && process.env.REDIS_URL && process.env.NOVA_TEST_BACKEND !== "pglite";
    if (backends) {
      expect(r.stdout).toMatch(/\| persisted sends\/s at saturation, two replicas \| \d+ \|/);
      const delivered = /\| delivered events\/s at saturation, two replicas \| (\d+) \|/.exec(r.stdout);
      expect(delivered, r.stdout).not.toBeNull();
      expect(Number(delivered![1])).toBeGreaterThan(0);
    } else {
      expect(r.stdout).toContain("Two-replica fan-out skipped: needs DATABASE_URL and REDIS_URL");
    }
  }, 300_000);
});
