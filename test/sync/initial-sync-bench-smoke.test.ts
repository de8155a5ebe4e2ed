import { spawnSync } from "node:child_process";
import path from "node:path";
import { describe, expect, it } from "vitest";

/** CI runs the initial /sync benchmark with tiny parameters: it must complete and print numbers. */
describe("bench/initial-sync.ts smoke run", () => {
  it("completes with tiny parameters and prints its report", () => {
    const root = path.resolve(import.meta.dirname, "../..");
    const r = spawnSync(
      process.execPath,
      ["--import", "tsx", "bench/initial-sync.ts", "--smoke", "--no-report"],
      {
        cwd: root,
        encoding: "utf8",
        timeout: 290_000,
      },
    );
    expect(r.status, `${r.stdout}\n${r.stderr}`).toBe(0);
    // Every seeded room is in the response, and each row has cold and warm numbers.
    expect(r.stdout).toMatch(/\| user in 20 rooms \|.*\| \d+\.\d \/ \d+\.\d ms .*\| 20 rooms, /);
    expect(r.stdout).toMatch(/\| lazy-loaded members, 5 rooms × 10 members \|.*\| 5 rooms, /);
  }, 300_000);
});
