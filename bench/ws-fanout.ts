/**
 * Issue 4's benchmark: Nova's sync over WebSocket.
 *   1. idle sockets held on one replica, and across three replicas (Redis fan-out), with the
 *      server memory each costs;
 *   2. fan-out: rooms × members, messages sent over the sockets against PostgreSQL — persisted
 *      sends/s and delivered events/s at saturation, send→deliver p50/p99 at a fixed rate — on one
 *      replica, then on two replicas sharing PostgreSQL with users alternating between them, so
 *      every room has members on both and deliveries cross through Redis;
 *   3. the ceiling in the same run with the same load generator: a bare uWebSockets.js relay
 *      (bench/ws-relay.ts) with the same topology.
 * The load generator runs in separate processes (bench/ws-load.ts), one per loopback source
 * address 127.0.0.x. Writes bench/REPORT.md between `<!-- ws:start -->` and `<!-- ws:end -->`.
 *
 * Usage: tsx bench/ws-fanout.ts [--smoke] [--idle 19000] [--replica-idle 50000] [--rooms 1000]
 *        [--members 10] [--rooms-per-user 10] [--seconds 10] [--rate 1000] [--workers 2]
 *        [--phases idle,replicas,fanout,replicas-fanout]
 * The replica phases need DATABASE_URL and REDIS_URL; without them they are skipped, and say so.
 */
import { type ChildProcess, execSync, fork, spawn } from "node:child_process";
import { availableParallelism } from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import pg from "pg";
import { freshDatabase, type ServerProcess, startServerProcess } from "../test/helpers/process.ts";
import { withAutovacuum } from "./autovacuum.lib.ts";
import { pool } from "./pool.lib.ts";
import { percentile, writeReportSection } from "./report.ts";
import {
  type Account,
  api,
  type CpuUse,
  cpuSince,
  cpuSnapshot,
  INSPECTABLE,
  metric,
  registerMany,
  settledMemory,
} from "./ws-bench.lib.ts";
import type { SocketSpec, WorkerCommand, WorkerReport } from "./ws-load.ts";

const { values } = parseArgs({
  options: {
    smoke: { type: "boolean", default: false },
    idle: { type: "string", default: "19000" },
    "replica-idle": { type: "string", default: "50000" },
    rooms: { type: "string", default: "1000" },
    members: { type: "string", default: "10" },
    "rooms-per-user": { type: "string", default: "10" },
    seconds: { type: "string", default: "10" },
    rate: { type: "string", default: "1000" },
    workers: { type: "string", default: "2" },
    window: { type: "string", default: "200" },
    "no-report": { type: "boolean", default: false },
    /** Comma-separated subset of idle,replicas,fanout,replicas-fanout (development). */
    phases: { type: "string", default: "idle,replicas,fanout,replicas-fanout" },
  },
});
const smoke = values.smoke;
const IDLE = smoke ? 50 : Number(values.idle);
const REPLICA_IDLE = smoke ? 60 : Number(values["replica-idle"]);
const ROOMS = smoke ? 6 : Number(values.rooms);
const MEMBERS = smoke ? 3 : Number(values.members);
const ROOMS_PER_USER = smoke ? 2 : Number(values["rooms-per-user"]);
const SECONDS = smoke ? 2 : Number(values.seconds);
const RATE = smoke ? 50 : Number(values.rate);
const WORKERS = Number(values.workers);
const WINDOW = smoke ? 8 : Number(values.window);
/** A rate far below capacity, for unloaded latency. */
const LOW_RATE = 10;
const PHASES = new Set(values.phases.split(","));
const V3 = "/_matrix/client/v3";
const HERE = import.meta.dirname;
const log = (s: string) => console.log(`[ws] ${s}`);

// ---- load generators ---------------------------------------------------------------------

class Worker {
  private readonly child: ChildProcess;
  get pid(): number {
    return this.child.pid ?? 0;
  }
  private readonly waiters: ((r: WorkerReport) => void)[] = [];
  constructor(readonly localAddress: string) {
    this.child = fork(path.join(HERE, "ws-load.ts"), [], {
      execArgv: ["--import", "tsx", "--max-old-space-size=4096"],
      stdio: ["ignore", "inherit", "inherit", "ipc"],
    });
    this.child.on("message", (m: WorkerReport) => {
      if (m.kind === "progress") {
        log(m.text);
        return;
      }
      this.waiters.shift()?.(m);
    });
  }
  ask<K extends WorkerReport["kind"]>(cmd: WorkerCommand): Promise<Extract<WorkerReport, { kind: K }>> {
    return new Promise((resolve) => {
      this.waiters.push((r) => resolve(r as Extract<WorkerReport, { kind: K }>));
      this.child.send(cmd);
    });
  }
  async close(): Promise<void> {
    if (this.child.exitCode !== null) return;
    const exited = new Promise((r) => this.child.once("exit", r));
    this.child.send({ cmd: "close" } satisfies WorkerCommand);
    await Promise.race([exited, new Promise((r) => setTimeout(r, 5_000))]);
    this.child.kill("SIGKILL");
  }
}

function workers(n: number): Worker[] {
  return Array.from({ length: n }, (_, i) => new Worker(`127.0.0.${i + 2}`));
}

/** Splits specs over workers (round-robin unless `workerOf` says) and connects them all. */
async function connect(
  ws: Worker[],
  mode: "nova" | "relay",
  specs: SocketSpec[],
  concurrency = 32,
  workerOf = (i: number) => i % ws.length,
) {
  const shares: SocketSpec[][] = ws.map(() => []);
  for (const [i, s] of specs.entries()) shares[workerOf(i)]!.push(s);
  const t = Date.now();
  const reports = await Promise.all(
    ws.map((w, i) =>
      w.ask<"connected">({
        cmd: "connect",
        mode,
        localAddress: w.localAddress,
        sockets: shares[i]!,
        concurrency,
      }),
    ),
  );
  const sockets = reports.reduce((a, r) => a + r.sockets, 0);
  const failed = reports.reduce((a, r) => a + r.failed, 0);
  return { sockets, failed, seconds: (Date.now() - t) / 1000 };
}

type PhaseResult = {
  cpu?: CpuUse;
  sendsPerSec: number;
  deliveredPerSec: number;
  p50: number;
  p99: number;
  delivered: number;
  errors: number;
};
async function runPhase(
  ws: Worker[],
  phase: string,
  rate: number | null,
  serverPids: number[] = [],
): Promise<PhaseResult> {
  const cpuBefore = cpuSnapshot(serverPids, ws);
  const reports = await Promise.all(
    ws.map((w) =>
      w.ask<"ran">({
        cmd: "run",
        phase,
        seconds: SECONDS,
        window: Math.max(1, Math.round(WINDOW / ws.length)),
        ratePerSecond: rate === null ? null : rate / ws.length,
        drainMs: smoke ? 1_000 : 3_000,
      }),
    ),
  );
  const acked = reports.reduce((a, r) => a + r.acked, 0);
  const inWindow = reports.reduce((a, r) => a + r.deliveredInWindow, 0);
  const delivered = reports.reduce((a, r) => a + r.delivered, 0);
  const errors = reports.reduce((a, r) => a + r.errors, 0);
  const lat = reports.flatMap((r) => r.latencies).sort((a, b) => a - b);
  return {
    cpu: cpuSince(cpuBefore, serverPids, ws),
    sendsPerSec: acked / SECONDS,
    deliveredPerSec: inWindow / SECONDS,
    p50: percentile(lat, 50),
    p99: percentile(lat, 99),
    delivered,
    errors,
  };
}

// ---- topology ------------------------------------------------------------------------------

/** Room r's members are users r·M … r·M+M−1 (mod U): every user is in exactly K rooms. */
function topology() {
  const users = Math.round((ROOMS * MEMBERS) / ROOMS_PER_USER);
  const members = (r: number) => Array.from({ length: MEMBERS }, (_, j) => (r * MEMBERS + j) % users);
  const roomsOf: number[][] = Array.from({ length: users }, () => []);
  for (let r = 0; r < ROOMS; r++) for (const u of members(r)) roomsOf[u]!.push(r);
  return { users, members, roomsOf };
}

async function setupRooms(base: string, accounts: Account[]): Promise<string[]> {
  const { members } = topology();
  const roomIds: string[] = new Array(ROOMS);
  const t = Date.now();
  await pool([...Array(ROOMS).keys()], 8, async (r) => {
    const [owner, ...rest] = members(r).map((u) => accounts[u]!);
    const created = await api(base, "POST", `${V3}/createRoom`, owner!.accessToken, {
      preset: "private_chat",
      invite: rest.map((a) => a.userId),
    });
    const roomId = created.room_id as string;
    for (const a of rest)
      await api(base, "POST", `${V3}/rooms/${encodeURIComponent(roomId)}/join`, a.accessToken, {});
    roomIds[r] = roomId;
    if ((r + 1) % 100 === 0) log(`rooms ${r + 1}/${ROOMS}`);
  });
  log(`created ${ROOMS} rooms × ${MEMBERS} members in ${((Date.now() - t) / 1000).toFixed(1)} s`);
  return roomIds;
}

// ---- phases ----------------------------------------------------------------------------------

type IdleResult = {
  sockets: number;
  failed: number;
  connectSeconds: number;
  /** Memory growth from no sockets to all of them, divided by the sockets held. */
  rssPerSocket: number;
  heapPerSocket: number;
  /**
   * Growth from half the sockets to all of them, per socket added: the cost of one more socket,
   * without what the process keeps once it has been busy (heap pages, malloc arenas).
   */
  rssMarginal: number;
  heapMarginal: number;
};

async function idlePhase(servers: ServerProcess[], total: number, nWorkers: number): Promise<IdleResult[]> {
  const accounts = await registerMany(servers[0]!.baseUrl, `idle${Date.now().toString(36)}_`, 8);
  const since = await Promise.all(
    accounts.map(
      async (a) =>
        (await api(servers[0]!.baseUrl, "GET", `${V3}/sync?timeout=0`, a.accessToken)).next_batch as string,
    ),
  );
  // As long as after connecting: the garbage of registering and syncing must be gone from both.
  const before = await settledMemory(servers, smoke ? 1 : 8);
  const specs: SocketSpec[] = Array.from({ length: total }, (_, i) => ({
    url: servers[i % servers.length]!.baseUrl,
    token: accounts[i % accounts.length]!.accessToken,
    since: since[i % accounts.length]!,
    rooms: [],
  }));
  const half = Math.floor(total / 2);
  const ws = workers(nWorkers);
  try {
    const c1 = await connect(ws, "nova", specs.slice(0, half), 64);
    // Let the servers go idle (timers fire, writes drain), then read memory after forced
    // collections; keep the lowest reading.
    const mid = await settledMemory(servers, smoke ? 1 : 8);
    const heldMid = await Promise.all(servers.map((s) => metric(s, "nova_ws_sockets")));
    const c2 = await connect(ws, "nova", specs.slice(half), 64);
    const low = await settledMemory(servers, smoke ? 1 : 8);
    const results: IdleResult[] = [];
    for (const [i, s] of servers.entries()) {
      const held = await metric(s, "nova_ws_sockets");
      const newSpace = await metric(s, 'nodejs_heap_space_size_total_bytes{space="new"}');
      log(
        `replica ${i + 1}: V8 young generation ${(newSpace / 2 ** 20).toFixed(0)} MiB after connecting and collecting`,
      );
      const rss = low[i]!.rss - before[i]!.rss;
      const heap = low[i]!.heap - before[i]!.heap;
      const added = held - heldMid[i]!;
      const r: IdleResult = {
        sockets: held,
        failed: c1.failed + c2.failed,
        connectSeconds: c1.seconds + c2.seconds,
        rssPerSocket: rss / held,
        heapPerSocket: heap / held,
        rssMarginal: (low[i]!.rss - mid[i]!.rss) / added,
        heapMarginal: (low[i]!.heap - mid[i]!.heap) / added,
      };
      results.push(r);
      log(
        `replica ${i + 1}: ${held} sockets held; per socket ${r.rssPerSocket.toFixed(0)} B RSS and ${r.heapPerSocket.toFixed(0)} B heap on average, ${r.rssMarginal.toFixed(0)} B RSS and ${r.heapMarginal.toFixed(0)} B heap marginal`,
      );
    }
    return results;
  } finally {
    await Promise.all(ws.map((w) => w.close()));
  }
}

type FanoutServer = { baseUrl: string; pid: number };
type FanoutResult = { saturation: PhaseResult; fixed: PhaseResult; low: PhaseResult; sockets: number };

/**
 * The fan-out workload against one or more replicas: user u's socket (and so its sends) goes to
 * replica u mod n, so with two every room has members on both and deliveries cross through
 * Redis. Users and rooms are set up through the first replica.
 */
/** The benchmark's PostgreSQL database (null on PGlite), for `analyze`. */
let databaseUrl: string | null = null;

/**
 * This machine's PostgreSQL runs with autovacuum off, so tables that grew since the last look
 * have no statistics and the planner takes a growing notifications table for an empty one (a
 * sequential scan per mark-read). Autovacuum's analyze does this on a server that has it on;
 * here it runs after the setup and after the warm-up.
 */
async function analyze(): Promise<void> {
  if (!databaseUrl) return;
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    await client.query("ANALYZE");
  } finally {
    await client.end();
  }
}

async function fanoutPhase(servers: FanoutServer[], label: string): Promise<FanoutResult> {
  const { users, roomsOf } = topology();
  const base = servers[0]!.baseUrl;
  const accounts = await registerMany(base, `${label}${Date.now().toString(36)}_`, users);
  const roomIds = await setupRooms(base, accounts);
  await analyze();
  const specs = accounts.map((a, u) => ({
    url: servers[u % servers.length]!.baseUrl,
    token: a.accessToken,
    rooms: roomsOf[u]!.map((r) => roomIds[r]!),
  }));
  const pids = servers.map((s) => s.pid);
  const ws = workers(WORKERS);
  try {
    // Consecutive users go to the same generator, so each generator holds sockets on every
    // replica (plain round-robin over two generators would pair each with one replica).
    const c = await connect(ws, "nova", specs, 32, (u) => Math.floor(u / servers.length) % ws.length);
    log(`${label}: ${c.sockets} sockets connected in ${c.seconds.toFixed(1)} s (${c.failed} failed)`);
    // Fixed rate first (after a warm-up at that rate), so no saturation backlog skews latency.
    // Unloaded latency first: a rate far below either side's capacity.
    const low = await runPhase(ws, `${label}-low`, LOW_RATE);
    log(`${label} at ${LOW_RATE} sends/s: p50 ${low.p50.toFixed(2)} ms, p99 ${low.p99.toFixed(2)} ms`);
    await runPhase(ws, `${label}-warmup`, RATE);
    await analyze();
    const fixed = await runPhase(ws, `${label}-rate`, RATE, pids);
    log(
      `${label} at ${RATE} sends/s: p50 ${fixed.p50.toFixed(2)} ms, p99 ${fixed.p99.toFixed(2)} ms, ${fixed.deliveredPerSec.toFixed(0)} deliveries/s`,
    );
    const saturation = await runPhase(ws, `${label}-saturate`, null, pids);
    log(
      `${label} saturation: ${saturation.sendsPerSec.toFixed(0)} persisted sends/s, ${saturation.deliveredPerSec.toFixed(0)} deliveries/s in the window, ${saturation.delivered} by the end of the drain`,
    );
    for (const [name, r] of [
      ["fixed rate", fixed],
      ["saturation", saturation],
    ] as const) {
      log(`${label}: cores used at ${name}: ${cpuText(r.cpu)}`);
    }
    return { saturation, fixed, low, sockets: c.sockets };
  } finally {
    await Promise.all(ws.map((w) => w.close()));
  }
}

async function ceilingPhase(): Promise<{ saturation: PhaseResult; fixed: PhaseResult; low: PhaseResult }> {
  const child = spawn(process.execPath, ["--import", "tsx", path.join(HERE, "ws-relay.ts")], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  const port = await new Promise<number>((resolve) => {
    child.stdout!.on("data", (d: Buffer) => {
      const m = /relay listening (\d+)/.exec(String(d));
      if (m) resolve(Number(m[1]));
    });
  });
  const { users, roomsOf } = topology();
  const specs = Array.from({ length: users }, (_, u) => ({
    url: `ws://127.0.0.1:${port}/`,
    rooms: roomsOf[u]!.map(String),
  }));
  const ws = workers(WORKERS);
  try {
    const c = await connect(ws, "relay", specs);
    log(`relay: ${c.sockets} sockets`);
    // Fixed rate first (after a warm-up at that rate), so no saturation backlog skews latency.
    // Unloaded latency first: a rate far below either side's capacity.
    const low = await runPhase(ws, "relay-low", LOW_RATE);
    log(`relay at ${LOW_RATE} sends/s: p50 ${low.p50.toFixed(2)} ms, p99 ${low.p99.toFixed(2)} ms`);
    await runPhase(ws, "relay-warmup", RATE);
    const fixed = await runPhase(ws, "relay-rate", RATE);
    log(
      `relay at ${RATE} sends/s: p50 ${fixed.p50.toFixed(2)} ms, p99 ${fixed.p99.toFixed(2)} ms, ${fixed.deliveredPerSec.toFixed(0)} deliveries/s`,
    );
    const saturation = await runPhase(ws, "relay-saturate", null);
    log(
      `relay saturation: ${saturation.sendsPerSec.toFixed(0)} relayed sends/s, ${saturation.deliveredPerSec.toFixed(0)} deliveries/s in the window, ${saturation.delivered} by the end of the drain`,
    );
    return { saturation, fixed, low };
  } finally {
    await Promise.all(ws.map((w) => w.close()));
    child.kill("SIGTERM");
  }
}

// ---- main ------------------------------------------------------------------------------------

function cpuText(c: CpuUse | undefined): string {
  if (!c) return "n/a";
  const servers =
    c.perServer.length > 1
      ? `servers ${c.server.toFixed(2)} (${c.perServer.map((x) => x.toFixed(2)).join(" + ")})`
      : `server ${c.server.toFixed(2)}`;
  return `${servers}, PostgreSQL ${c.postgres.toFixed(2)}, Redis ${c.redis.toFixed(2)}, load generators ${c.generators.toFixed(2)}`;
}

const SKIPPED: PhaseResult = {
  sendsPerSec: 0,
  deliveredPerSec: 0,
  p50: Number.NaN,
  p99: Number.NaN,
  delivered: 0,
  errors: 0,
};
const SKIPPED_FANOUT: FanoutResult = { saturation: SKIPPED, fixed: SKIPPED, low: SKIPPED, sockets: 0 };

/**
 * Section 2's table: one replica and two (null when that phase was skipped) against the relay
 * ceiling. Targets are issue #15's.
 */
function fanoutTable(one: FanoutResult, two: FanoutResult | null, relay: Omit<FanoutResult, "sockets">) {
  const ratio = (a: number, b: number) => (b > 0 ? `${((a / b) * 100).toFixed(0)}%` : "n/a");
  const ms = (x: number) => `${x.toFixed(2)} ms`;
  const times = (a: number, b: number) => `${(a / b).toFixed(1)}×`;
  // One row per replica count, next to each other; the two-replica cells read "skipped" if so.
  const rows = (
    what: string,
    cell: (r: FanoutResult) => string,
    ceiling: string,
    vs: (r: FanoutResult) => string,
    target: (replicas: 1 | 2) => string,
  ) =>
    [
      `| ${what}, one replica | ${cell(one)} | ${ceiling} | ${vs(one)} | ${target(1)} |`,
      `| ${what}, two replicas | ${two ? cell(two) : "skipped"} | ${ceiling} | ${two ? vs(two) : ""} | ${target(2)} |`,
    ].join("\n");
  const cores = (c: CpuUse | undefined, skipped = false) =>
    `${skipped ? "skipped" : cpuText(c)} | | | of ${availableParallelism()}`;
  return `| | Nova | bare uWS relay (ceiling) | Nova / ceiling | target |
|---|---|---|---|---|
${rows(
  "persisted sends/s at saturation",
  (r) => r.saturation.sendsPerSec.toFixed(0),
  `${relay.saturation.sendsPerSec.toFixed(0)} (relayed, not stored)`,
  (r) => ratio(r.saturation.sendsPerSec, relay.saturation.sendsPerSec),
  (n) => (n === 1 ? "≥ 5,000/s" : "≥ 8,000/s"),
)}
${rows(
  "delivered events/s at saturation",
  (r) => r.saturation.deliveredPerSec.toFixed(0),
  relay.saturation.deliveredPerSec.toFixed(0),
  (r) => ratio(r.saturation.deliveredPerSec, relay.saturation.deliveredPerSec),
  () => "≥ 25% of the relay",
)}
${rows(
  `send→deliver p50 / p99 at ${LOW_RATE} sends/s (unloaded)`,
  (r) => `${ms(r.low.p50)} / ${ms(r.low.p99)}`,
  `${ms(relay.low.p50)} / ${ms(relay.low.p99)}`,
  (r) => `${times(r.low.p99, relay.low.p99)} (p99)`,
  () => "p99 ≤ 10 ms at 10 sends/s",
)}
${rows(
  `send→deliver p50 at ${RATE} sends/s`,
  (r) => ms(r.fixed.p50),
  ms(relay.fixed.p50),
  (r) => times(r.fixed.p50, relay.fixed.p50),
  () => "",
)}
${rows(
  `send→deliver p99 at ${RATE} sends/s`,
  (r) => ms(r.fixed.p99),
  ms(relay.fixed.p99),
  (r) => times(r.fixed.p99, relay.fixed.p99),
  () => "≤ 25 ms at 1,000 sends/s",
)}
| send errors (saturation / fixed rate), one replica | ${one.saturation.errors} / ${one.fixed.errors} | ${relay.saturation.errors} / ${relay.fixed.errors} | | |
| send errors (saturation / fixed rate), two replicas | ${two ? `${two.saturation.errors} / ${two.fixed.errors}` : "skipped"} | | | |
| cores used at ${RATE} sends/s, one replica | ${cores(one.fixed.cpu)} |
| cores used at ${RATE} sends/s, two replicas | ${cores(two?.fixed.cpu, !two)} |
| cores used at saturation, one replica | ${cores(one.saturation.cpu)} |
| cores used at saturation, two replicas | ${cores(two?.saturation.cpu, !two)} |`;
}

async function main() {
  const hardLimit = execSync("ulimit -Hn", { shell: "/bin/bash" }).toString().trim();
  const db = await freshDatabase();
  databaseUrl = db?.url ?? null;
  // Restored through the URL the benchmark was given: its own database is dropped by then.
  const restoreAutovacuum =
    db && !smoke ? await withAutovacuum(process.env.DATABASE_URL ?? db.url, log) : async () => {};
  const redisUrl = process.env.REDIS_URL;
  const backend = db ? "PostgreSQL" : "embedded PGlite";
  log(`backend ${backend}; ulimit -Hn ${hardLimit}; ${smoke ? "SMOKE" : "full"} run`);
  const env = { ...(db ? { DATABASE_URL: db.url } : {}), ...(redisUrl ? { REDIS_URL: redisUrl } : {}) };
  const servers: ServerProcess[] = [];
  try {
    const s1 = await startServerProcess(env, INSPECTABLE);
    servers.push(s1);
    log(`idle: ${IDLE} sockets on one replica`);
    const idle1 = PHASES.has("idle")
      ? (await idlePhase([s1], IDLE, Math.max(2, Math.ceil(IDLE / 15_000))))[0]!
      : {
          sockets: 0,
          failed: 0,
          connectSeconds: 0,
          rssPerSocket: Number.NaN,
          heapPerSocket: Number.NaN,
          rssMarginal: Number.NaN,
          heapMarginal: Number.NaN,
        };

    let idle3: IdleResult[] | null = null;
    if (db && redisUrl && REPLICA_IDLE > 0 && PHASES.has("replicas")) {
      // Three fresh processes (the first replica's memory baseline would include what it kept
      // from the run above); the first replica stays up, idle, as a fourth peer.
      for (let i = 0; i < 3; i++) servers.push(await startServerProcess(env, INSPECTABLE));
      log(`idle: ${REPLICA_IDLE} sockets across three replicas`);
      idle3 = await idlePhase(servers.slice(1), REPLICA_IDLE, Math.max(3, Math.ceil(REPLICA_IDLE / 9_000)));
      for (const s of servers.splice(1)) await s.stop("SIGTERM");
    }

    log(`fan-out: ${ROOMS} rooms × ${MEMBERS} members, ${ROOMS_PER_USER} rooms per user`);
    const nova = PHASES.has("fanout")
      ? await fanoutPhase([{ baseUrl: s1.baseUrl, pid: s1.child.pid! }], "nova")
      : SKIPPED_FANOUT;
    await s1.stop("SIGTERM");
    servers.length = 0;

    // Two fresh replicas, the first one stopped: no third peer takes a share of Redis's fan-out.
    const missing = [db ? null : "DATABASE_URL", redisUrl ? null : "REDIS_URL"].filter((x) => x !== null);
    const twoSkipped = !PHASES.has("replicas-fanout")
      ? "not in --phases"
      : missing.length > 0
        ? `needs DATABASE_URL and REDIS_URL (${missing.join(" and ")} not set)`
        : null;
    let nova2: FanoutResult | null = null;
    if (twoSkipped) log(`fan-out on two replicas skipped: ${twoSkipped}`);
    else {
      for (let i = 0; i < 2; i++) servers.push(await startServerProcess(env, INSPECTABLE));
      log("fan-out on two replicas (users alternate between them, deliveries cross through Redis)");
      nova2 = await fanoutPhase(
        servers.map((s) => ({ baseUrl: s.baseUrl, pid: s.child.pid! })),
        "nova2",
      );
      for (const s of servers.splice(0)) await s.stop("SIGTERM");
    }
    const relay =
      PHASES.has("fanout") || nova2
        ? await ceilingPhase()
        : { saturation: SKIPPED, fixed: SKIPPED, low: SKIPPED };

    const { users } = topology();
    const kib = (b: number) => `${(b / 1024).toFixed(2)} KiB`;
    const idleRow = (where: string, r: IdleResult, connect: string) =>
      `| ${where} | ${r.sockets} | ${kib(r.rssMarginal)} | ${kib(r.heapMarginal)} | ${kib(r.rssPerSocket)} | ${kib(r.heapPerSocket)} | ${connect} |`;
    const idleRows = [
      idleRow("one replica", idle1, `${idle1.connectSeconds.toFixed(0)} s`),
      ...(idle3 ?? []).map((r, i) =>
        idleRow(`three replicas: #${i + 1}`, r, `${r.connectSeconds.toFixed(0)} s (all three)`),
      ),
    ];
    const total3 = (idle3 ?? []).reduce((a, r) => a + r.sockets, 0);
    const md = `## WebSocket sync (bench/ws-fanout.ts)${smoke ? " — SMOKE RUN (tiny parameters, not a measurement)" : ""}

Backend: ${backend}${redisUrl ? " + Redis fan-out for replicas" : ""}. \`ulimit -Hn\` = ${hardLimit} open files per process.
Load generator: ${WORKERS}+ separate processes (bench/ws-load.ts), one per source address 127.0.0.2…, Nova sockets through the client library (sync/client).

### 1. Idle sockets (authenticated and subscribed, nothing happening)

| where | sockets held | RSS / socket, marginal | heap / socket, marginal | RSS / socket, average | heap / socket, average | connect time |
|---|---|---|---|---|---|---|
${idleRows.join("\n")}

${idle3 ? `Three replicas held ${total3} sockets together (target 50,000).` : "Three-replica run skipped (needs DATABASE_URL and REDIS_URL)."} Target: under 4 KiB of server memory per socket.
Sockets connect in two halves, each followed by ${smoke ? 2 : 16} s of idling; memory is read as the lowest of readings 2 s apart, each right after a full garbage collection (forced through the inspector). *Marginal*: growth from half the sockets to all of them, per socket added, the cost of one more socket. *Average*: growth from none to all, per socket; it also holds whatever the process keeps once it has been busy (heap pages and malloc arenas not handed back). The forced collection also shrinks V8's young generation, which \`npm start\` lets grow to 2 × 64 MiB under load (\`--max-semi-space-size=64\`); an idle server that is not made to collect may keep up to about 96 MiB more than these readings, whatever its number of sockets.

### 2. Fan-out: ${ROOMS} rooms × ${MEMBERS} members over ${users} sockets (each user in ${ROOMS_PER_USER} rooms), sends over the sockets

${fanoutTable(nova, nova2, relay)}

${
  nova2
    ? "Two replicas: two server processes on the same PostgreSQL and Redis, user u's socket on replica u mod 2 (users and rooms created through the first), so every room has members on both and each send reaches the other replica's members through Redis; sends go over each user's own socket. Their cores are the two processes together (each in brackets)."
    : `Two-replica fan-out skipped: ${twoSkipped}.`
}

Order, for one replica, then two, then the relay: ${SECONDS} s at ${LOW_RATE} sends/s (unloaded latency), ${SECONDS} s warm-up at ${RATE} sends/s, ${SECONDS} s measured at ${RATE} sends/s (latency from the send's timestamp to the delta's arrival, every delivery counted), then ${SECONDS} s of saturation with ${WINDOW} sends in flight across the generators (deliveries counted when they arrive within the phase; the backlog drains for a few seconds after). The ceiling relays the same frames over the same topology with the same generator processes (raw \`ws\` sockets instead of the client library). This machine's PostgreSQL runs with autovacuum off; for a full run the benchmark switches it on (PostgreSQL's defaults) and puts the setting back at the end, and analyses the database (\`ANALYZE\`) after the setup and after the warm-up.`;
    console.log(md);
    if (!values["no-report"]) writeReportSection("ws", md);
  } catch (err) {
    for (const s of servers)
      console.error(
        s.output
          .filter((l) => /"level":(40|50|60)/.test(l))
          .slice(-5)
          .join("\n"),
      );
    throw err;
  } finally {
    for (const s of servers) await s.stop("SIGTERM").catch(() => undefined);
    await db?.drop();
    await restoreAutovacuum();
  }
}

await main();
