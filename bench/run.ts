/**
 * `npm run bench`: runs every benchmark script in bench/ in turn (or the ones named:
 * `npm run bench -- http keys`), each in its own process, and leaves bench/REPORT.md updated.
 * The long ones run only when named: `npm run bench -- soak` (30 minutes of mixed load).
 */
import { spawnSync } from "node:child_process";
import { readdirSync } from "node:fs";
import path from "node:path";

const dir = import.meta.dirname;
const skip = new Set(["run.ts", "report.ts"]);
const longOnes = new Set(["soak.ts"]);
const wanted = process.argv.slice(2).filter((a) => !a.startsWith("-"));
const scripts = readdirSync(dir)
  .filter((f) => f.endsWith(".ts") && !skip.has(f) && !f.includes(".lib."))
  .filter((f) => (wanted.length === 0 ? !longOnes.has(f) : wanted.some((w) => f.startsWith(w))));
let failed = 0;
for (const f of scripts) {
  console.log(`\n=== bench/${f}`);
  const r = spawnSync(process.execPath, ["--import", "tsx", path.join(dir, f)], { stdio: "inherit" });
  if (r.status !== 0) failed++;
}
process.exit(failed > 0 ? 1 : 0);
