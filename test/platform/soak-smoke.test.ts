import { spawnSync } from "node:child_process";
import path from "node:path";
import { describe, expect, it } from "vitest";

/**
 * CI runs the soak (bench/soak.ts) for a few seconds with a handful of users: the mixed load must
 * run with every request succeeding, memory must have been sampled (with and without a forced
 * collection) and both heap snapshots read. Its slope is no verdict at this length, and it must not touch bench/REPORT.md.
 */
describe("bench/soak.ts short run", () => {
  it("runs the mixed load without an error and samples the server's memory", () => {
    const root = path.resolve(import.meta.dirname, "../..");
    const r = spawnSync(
      process.execPath,
      [
        "--import",
        "tsx",
        "bench/soak.ts",
        "--minutes",
        "0.4",
        "--users",
        "6",
        "--rooms",
        "3",
        "--members",
        "3",
        "--create-every",
        "5",
        "--upload-every",
        "4",
        "--no-report",
      ],
      { cwd: root, encoding: "utf8", timeout: 170_000 },
    );
    const out = `${r.stdout}\n${r.stderr}`;
    expect(r.status, out).toBe(0);
    const line = /\[soak\] result (\{.*\})/.exec(r.stdout)?.[1];
    expect(line, out).toBeDefined();
    const result = JSON.parse(line!) as { errors: number; samples: number; gcSamples: number };
    expect(result.errors, out).toBe(0);
    expect(result.samples, out).toBeGreaterThanOrEqual(5);
    expect(result.gcSamples, out).toBeGreaterThanOrEqual(2);
    // Every kind of the mix ran at least once.
    for (const kind of [
      "createRoom",
      "join",
      "room send",
      "to-device",
      "typing",
      "media upload",
      "media download",
    ])
      expect(r.stdout, kind).toMatch(new RegExp(`\\| ${kind}[^|]*\\| [1-9]\\d* \\| 0 \\|`));
    expect(r.stdout).toMatch(/\| \/sync long-poll responses \| [1-9]\d* \| 0 \|/);
    expect(r.stdout).toMatch(/\| WebSocket sync deltas received \| [1-9]\d* \| 0 \|/);
    // Both heap snapshots were taken and read: the growth is split between the bounded caches and the rest.
    expect(r.stdout).toMatch(/\| `TxnIdCache\.ids` \| \d+\.\d \|/);
    expect(r.stdout).toMatch(/\| \*\*everything else\*\* \| \d+\.\d \|/);
  }, 180_000);
});
