import { spawnSync } from "node:child_process";
import path from "node:path";
import { describe, expect, it } from "vitest";

/** CI runs the WebSocket fan-out benchmark with tiny parameters: it must complete, nothing more. */
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
  }, 300_000);
});
