import { spawnSync } from "node:child_process";
import path from "node:path";
import { describe, expect, it } from "vitest";

/** CI runs the sliding sync benchmark with tiny parameters: it must complete and print numbers. */
describe("bench/sliding-sync.ts smoke run", () => {
  it("completes with tiny parameters and prints its report", () => {
    const root = path.resolve(import.meta.dirname, "../..");
    const r = spawnSync(
      process.execPath,
      ["--import", "tsx", "bench/sliding-sync.ts", "--smoke", "--no-report"],
      { cwd: root, encoding: "utf8", timeout: 290_000 },
    );
    expect(r.status, `${r.stdout}\n${r.stderr}`).toBe(0);
    expect(r.stdout).toMatch(/\| first response, warm .*\| \d+\.\d \/ \d+\.\d ms/);
    expect(r.stdout).toMatch(
      /\| incremental, one new event in the room at the top .*\| \d+\.\d \/ \d+\.\d ms/,
    );
    expect(r.stdout).toContain("Incremental responses that lacked the new event: 0.");
  }, 300_000);
});
