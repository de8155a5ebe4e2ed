/**
 * Issue #15's footprint rows: how long `npm start` takes to answer and how much memory the idle
 * server holds, as a new user sees them (default config, embedded PGlite; then external
 * PostgreSQL when one answers). The server is spawned as `npm start` runs it — node with the
 * flags and entry point of package.json's start script, directly (no npm wrapper, so the pid
 * polled is the server's) — on a free port with its own data dir.
 *
 * Measured per backend: spawn → `/_matrix/client/versions` 200 on a fresh data dir and on an
 * existing one (median of --runs), the peak RSS up to ready (VmHWM), the RSS --idle-seconds after
 * ready with the heap/external breakdown from /metrics on the admin port. The ceiling in the same
 * run: a bare `node -e` start and a bare PGlite open of the same data dir (or a bare pg connect).
 *
 * Usage: tsx bench/footprint.ts [--runs 3] [--idle-seconds 60] [--no-postgres] [--no-report]
 * Writes bench/REPORT.md between `<!-- footprint:start -->` and `<!-- footprint:end -->`.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import pg from "pg";
import { freePort } from "../test/platform/spawn.ts";
import { writeReportSection } from "./report.ts";

const { values } = parseArgs({
  options: {
    runs: { type: "string", default: "3" },
    "idle-seconds": { type: "string", default: "60" },
    "no-postgres": { type: "boolean", default: false },
    "no-report": { type: "boolean", default: false },
  },
});
const RUNS = Number(values.runs);
const IDLE_S = Number(values["idle-seconds"]);
const ROOT = path.resolve(import.meta.dirname, "..");
const PG_ADMIN = process.env.DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";
const MB = 2 ** 20;

/** package.json's start script as node arguments: what `npm start` runs, minus npm. */
function startArgs(): string[] {
  const pkg = JSON.parse(readFileSync(path.join(ROOT, "package.json"), "utf8")) as {
    scripts: { start: string; prestart?: string };
  };
  const [bin, ...args] = pkg.scripts.start.split(/\s+/);
  if (bin !== "node") throw new Error(`the start script no longer runs node: ${pkg.scripts.start}`);
  return args;
}

/** VmRSS and VmHWM (peak) of a live process, in bytes; null once it has gone. */
function memoryOf(pid: number): { rss: number; hwm: number } | null {
  try {
    const status = readFileSync(`/proc/${pid}/status`, "utf8");
    const kb = (key: string) =>
      Number(new RegExp(`^${key}:\\s+(\\d+) kB`, "m").exec(status)?.[1] ?? 0) * 1024;
    return { rss: kb("VmRSS"), hwm: kb("VmHWM") };
  } catch {
    return null;
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

type Started = {
  child: ChildProcess;
  /** ms from spawn to the first 200 from /_matrix/client/versions. */
  readyMs: number;
  /** VmHWM when it answered: the peak of the start. */
  startPeak: number;
  adminPort: number;
  output: string[];
};

async function startServer(env: Record<string, string>): Promise<Started> {
  const port = await freePort();
  const adminPort = await freePort();
  const childEnv: NodeJS.ProcessEnv = { ...process.env };
  for (const k of Object.keys(childEnv))
    if (k === "DATABASE_URL" || k.endsWith("_DATABASE_URL")) delete childEnv[k];
  const t0 = performance.now();
  const child = spawn(process.execPath, startArgs(), {
    cwd: ROOT,
    env: { ...childEnv, NOVA_PORT: String(port), NOVA_ADMIN_PORT: String(adminPort), ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const output: string[] = [];
  child.stdout!.on("data", (d: Buffer) => output.push(d.toString()));
  child.stderr!.on("data", (d: Buffer) => output.push(d.toString()));
  let exited = false;
  child.once("exit", () => {
    exited = true;
  });
  const url = `http://127.0.0.1:${port}/_matrix/client/versions`;
  const deadline = t0 + 120_000;
  while (performance.now() < deadline) {
    if (exited) throw new Error(`server exited before ready:\n${output.join("")}`);
    const ok = await fetch(url).then(
      (r) => r.status === 200,
      () => false,
    );
    if (ok) {
      const readyMs = performance.now() - t0;
      return { child, readyMs, startPeak: memoryOf(child.pid!)?.hwm ?? 0, adminPort, output };
    }
    await sleep(10);
  }
  child.kill("SIGKILL");
  throw new Error(`server not ready in 120 s:\n${output.join("")}`);
}

async function stopServer(s: Started): Promise<void> {
  if (s.child.exitCode !== null) return;
  const exited = new Promise((r) => s.child.once("exit", r));
  s.child.kill("SIGTERM");
  await exited;
}

type Breakdown = { heapUsed: number; heapTotal: number; external: number; rssSelf: number };

/** The process's own view of its memory, from prom-client's default metrics on the admin port. */
async function metricsOf(adminPort: number): Promise<Breakdown | null> {
  const text = await fetch(`http://127.0.0.1:${adminPort}/metrics`).then(
    (r) => (r.ok ? r.text() : ""),
    () => "",
  );
  const metric = (name: string) => Number(new RegExp(`^${name} (\\S+)`, "m").exec(text)?.[1] ?? Number.NaN);
  if (!text) return null;
  return {
    heapUsed: metric("nodejs_heap_size_used_bytes"),
    heapTotal: metric("nodejs_heap_size_total_bytes"),
    external: metric("nodejs_external_memory_bytes"),
    rssSelf: metric("process_resident_memory_bytes"),
  };
}

type Idle = { rss: number; peak: number; breakdown: Breakdown | null };

async function idleOf(s: Started): Promise<Idle> {
  const pid = s.child.pid!;
  for (let waited = 0; waited < IDLE_S; waited += 10) {
    await sleep(Math.min(10, IDLE_S - waited) * 1000);
    const m = memoryOf(pid);
    console.log(`[footprint]   idle ${Math.min(IDLE_S, waited + 10)} s: RSS ${fmt(m?.rss ?? 0)}`);
  }
  const m = memoryOf(pid) ?? { rss: 0, hwm: 0 };
  const breakdown = await metricsOf(s.adminPort);
  if (breakdown) {
    const { heapUsed, heapTotal, external } = breakdown;
    console.log(`[footprint]   heap ${fmt(heapUsed)} used / ${fmt(heapTotal)}, external ${fmt(external)}`);
  }
  return { rss: m.rss, peak: m.hwm, breakdown };
}

/** A child's own wall time to exit, with its peak RSS (from its resourceUsage, in bytes). */
async function ceilingRun(
  args: string[],
  env: NodeJS.ProcessEnv = process.env,
): Promise<{ ms: number; rss: number }> {
  const t0 = performance.now();
  const child = spawn(process.execPath, args, { cwd: ROOT, env, stdio: ["ignore", "pipe", "inherit"] });
  let out = "";
  child.stdout!.on("data", (d: Buffer) => {
    out += d.toString();
  });
  const code = await new Promise<number | null>((r) => child.once("exit", r));
  const ms = performance.now() - t0;
  if (code !== 0) throw new Error(`ceiling ${args.join(" ")} exited ${code}: ${out}`);
  return { ms, rss: Number(out.trim().split("\n").pop()) * 1024 };
}

const PRINT_MAXRSS = "process.stdout.write(String(process.resourceUsage().maxRSS))";

function bareNode() {
  return ceilingRun(["-e", PRINT_MAXRSS]);
}

/** PGlite opened as the server opens it (same settings), one query, closed. */
function barePglite(dir: string) {
  const dataDir = JSON.stringify(path.join(dir, "pglite"));
  const code = `const { PGlite } = await import("@electric-sql/pglite");
(await import("node:fs")).mkdirSync(${dataDir}, { recursive: true });
const db = await PGlite.create({ dataDir: ${dataDir}, postgresqlconf: ["shared_buffers = 16MB"] });
await db.query("SELECT 1"); await db.close(); ${PRINT_MAXRSS}`;
  return ceilingRun(["--input-type=module", "-e", code]);
}

function barePg(url: string) {
  const code = `const pg = (await import("pg")).default; const c = new pg.Client({ connectionString: ${JSON.stringify(url)} });
await c.connect(); await c.query("SELECT 1"); await c.end(); ${PRINT_MAXRSS}`;
  return ceilingRun(["--input-type=module", "-e", code]);
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const fmt = (bytes: number) => `${(bytes / MB).toFixed(0)} MB`;
const fmtMs = (ms: number) => `${(ms / 1000).toFixed(2)} s`;

type Backend = {
  name: string;
  fresh: number[];
  existing: number[];
  startPeak: number;
  idle: Idle;
  ceilings: { label: string; ms: number; rss: number }[];
};

/** Three fresh starts, then three on the last one's data; idle measured on the last. */
async function measure(
  name: string,
  freshEnv: () => Promise<{ env: Record<string, string>; cleanup(): Promise<void> }>,
  ceiling: (env: Record<string, string>) => Promise<{ label: string; ms: number; rss: number }>,
): Promise<Backend> {
  const fresh: number[] = [];
  const existing: number[] = [];
  let startPeak = 0;
  let last: { env: Record<string, string>; cleanup(): Promise<void> } | null = null;
  for (let i = 0; i < RUNS; i++) {
    await last?.cleanup();
    last = await freshEnv();
    const s = await startServer(last.env);
    fresh.push(s.readyMs);
    startPeak = Math.max(startPeak, s.startPeak);
    console.log(
      `[footprint] ${name} fresh #${i + 1}: ready ${fmtMs(s.readyMs)}, start peak ${fmt(s.startPeak)}`,
    );
    await stopServer(s);
  }
  let idle: Idle | null = null;
  for (let i = 0; i < RUNS; i++) {
    const s = await startServer(last!.env);
    existing.push(s.readyMs);
    startPeak = Math.max(startPeak, s.startPeak);
    console.log(
      `[footprint] ${name} existing #${i + 1}: ready ${fmtMs(s.readyMs)}, start peak ${fmt(s.startPeak)}`,
    );
    if (i === RUNS - 1) {
      console.log(`[footprint] ${name}: idling ${IDLE_S} s`);
      idle = await idleOf(s);
    }
    await stopServer(s);
  }
  const bare = await bareNode();
  const db = await ceiling(last!.env);
  const freshDb = name.startsWith("embedded") ? await freshDataDir() : null;
  const dbFresh = freshDb
    ? {
        label: "bare PGlite open of a new data dir (initdb) + `SELECT 1`",
        ...(await barePglite(freshDb.env.NOVA_DATA_DIR)),
      }
    : null;
  await freshDb?.cleanup();
  await last!.cleanup();
  for (const c of [{ label: "node -e", ...bare }, db, ...(dbFresh ? [dbFresh] : [])]) {
    console.log(`[footprint] ${name} ceiling: ${c.label}: ${fmtMs(c.ms)}, peak ${fmt(c.rss)}`);
  }
  return {
    name,
    fresh,
    existing,
    startPeak,
    idle: idle!,
    ceilings: [{ label: "bare `node -e` (start to exit)", ...bare }, db, ...(dbFresh ? [dbFresh] : [])],
  };
}

async function pgAvailable(): Promise<boolean> {
  const c = new pg.Client({ connectionString: PG_ADMIN, connectionTimeoutMillis: 2000 });
  try {
    await c.connect();
    await c.end();
    return true;
  } catch {
    return false;
  }
}

async function freshPgDatabase() {
  const name = `nova_fp_${Math.random().toString(16).slice(2, 10)}`;
  const admin = async (q: string) => {
    const c = new pg.Client({ connectionString: PG_ADMIN });
    await c.connect();
    await c.query(q);
    await c.end();
  };
  await admin(`CREATE DATABASE ${name}`);
  const u = new URL(PG_ADMIN);
  u.pathname = `/${name}`;
  // The data dir still holds the lock and media files: its own temp dir too.
  const dir = mkdtempSync(path.join(os.tmpdir(), "nova-footprint-"));
  return {
    env: { DATABASE_URL: u.toString(), NOVA_DATA_DIR: dir },
    async cleanup() {
      await admin(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function freshDataDir() {
  const dir = mkdtempSync(path.join(os.tmpdir(), "nova-footprint-"));
  return Promise.resolve({
    env: { NOVA_DATA_DIR: dir },
    async cleanup() {
      rmSync(dir, { recursive: true, force: true });
    },
  });
}

function rows(b: Backend, targets: { fresh: string; existing: string; idle: string; peak: string }): string {
  const bd = b.idle.breakdown;
  const breakdown = bd
    ? `V8 heap ${fmt(bd.heapUsed)} used of ${fmt(bd.heapTotal)}, external (WASM memory and buffers, allocated: not all of it resident) ${fmt(bd.external)}`
    : "no /metrics";
  const ms = (xs: number[]) => `**${fmtMs(median(xs))}** (${xs.map((x) => fmtMs(x)).join(", ")})`;
  return [
    `| ${b.name}: ready, fresh data | ${ms(b.fresh)} | ${targets.fresh} |`,
    `| ${b.name}: ready, existing data | ${ms(b.existing)} | ${targets.existing} |`,
    `| ${b.name}: peak RSS during start (VmHWM at ready) | **${fmt(b.startPeak)}** | ${targets.peak} |`,
    `| ${b.name}: RSS ${IDLE_S} s after ready (peak so far ${fmt(b.idle.peak)}) | **${fmt(b.idle.rss)}**: ${breakdown} | ${targets.idle} |`,
    ...b.ceilings.map(
      (c) => `| ${b.name} ceiling: ${c.label} | ${fmtMs(c.ms)}, peak RSS ${fmt(c.rss)} | — |`,
    ),
  ].join("\n");
}

async function main() {
  const args = startArgs();
  console.log(`[footprint] node ${args.join(" ")}; ${RUNS} runs per case, idle ${IDLE_S} s`);
  const results: string[] = [];
  const embedded = await measure("embedded PGlite", freshDataDir, async (env) => ({
    label: "bare PGlite open of the same data dir + `SELECT 1`",
    ...(await barePglite(env.NOVA_DATA_DIR!)),
  }));
  results.push(rows(embedded, { fresh: "≤ 3 s", existing: "≤ 1.5 s", idle: "≤ 150 MB", peak: "≤ 250 MB" }));
  if (!values["no-postgres"] && (await pgAvailable())) {
    const external = await measure("PostgreSQL", freshPgDatabase, async (env) => ({
      label: "bare pg connect + `SELECT 1`",
      ...(await barePg(env.DATABASE_URL!)),
    }));
    results.push(rows(external, { fresh: "—", existing: "—", idle: "≤ 100 MB", peak: "—" }));
  } else {
    console.log("[footprint] PostgreSQL skipped (--no-postgres or none at DATABASE_URL)");
  }
  const load = os
    .loadavg()
    .map((l) => l.toFixed(1))
    .join(" / ");
  if (values["no-report"]) return;
  writeReportSection(
    "footprint",
    `## Footprint: \`npm start\` ready time and idle memory (bench/footprint.ts, issue #15)

The server as \`npm start\` runs it: \`node ${args.join(" ")}\` spawned directly (no npm wrapper, so the
pid measured is the server's), default config, free ports, a temp data dir. Ready: spawn → first 200
from \`/_matrix/client/versions\`, median of ${RUNS} (each run in brackets); fresh runs each get a new data dir
(or database), then ${RUNS} restarts on the last one. RSS from /proc/<pid>/status; the breakdown from
prom-client's default metrics on the admin port (/metrics).

| measurement | result | target |
|---|---|---|
${results.join("\n")}

Load average (1/5/15 min) at the end of the run: ${load} on ${os.cpus().length} cores (the machine is shared: other work may run).`,
  );
}

await main();
