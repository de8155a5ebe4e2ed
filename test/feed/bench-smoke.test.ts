import { spawnSync } from "node:child_process";
import path from "node:path";
import { describe, expect, it } from "vitest";

/**
 * CI runs the feed benchmark with tiny parameters: it must complete, nothing more. On Redis with
 * REDIS_URL, on the in-process store without it (the benchmark says which).
 */
describe("bench/feed.ts smoke run", () => {
  it("completes with tiny parameters and prints its report", () => {
    const root = path.resolve(import.meta.dirname, "../..");
    const r = spawnSync(process.execPath, ["--import", "tsx", "bench/feed.ts", "--smoke", "--no-report"], {
      cwd: root,
      encoding: "utf8",
      timeout: 170_000,
    });
    expect(r.status, `${r.stdout}\n${r.stderr}`).toBe(0);
    expect(r.stdout).toContain("## Feed (bench/feed.ts)");
    expect(r.stdout).toMatch(/into every timeline \(all checked\) \| \*\*[0-9.]+ s\*\*/);
  }, 180_000);
});
