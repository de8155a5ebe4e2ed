/**
 * Issue #15's initial /sync rows, against the targets "initial /sync, user in 1,000 rooms: cold
 * ≤ 300 ms / warm ≤ 100 ms" and "initial /sync with lazy-loaded members, 300 rooms × 300 members
 * ≤ 1 s":
 *   1. "many": one user in ROOMS rooms (each with OTHERS other members and MESSAGES messages),
 *      GET /sync with no `since`, filter {"room":{"timeline":{"limit":20}}};
 *   2. "lazy": one user in LAZY_ROOMS rooms with MEMBERS members each (the same MEMBERS − 1
 *      others in every room), filter {"room":{"state":{"lazy_load_members":true}},"timeline":{"limit":20}}}.
 * Cold: the user's first /sync after a restart of the server process (nothing cached, nothing of
 * the sync path compiled), COLD restarts; warm: RUNS repeats in the same process. Seeding goes
 * through the in-process services (bench/initial-sync-seed.lib.ts); the measured server is a
 * separate process started as `npm start` runs it, on the same storage.
 * Ceilings in the same run: JSON.stringify of the same response body (what serialising it alone
 * costs), and on PostgreSQL raw SQL reading what the response is built from (the rooms' current
 * state — lazily, only the timeline senders' memberships — and their last 20 events).
 * Writes bench/REPORT.md between `<!-- initial-sync:start -->` and `<!-- initial-sync:end -->`.
 *
 * Usage: tsx bench/initial-sync.ts [--smoke] [--rooms 1000] [--others 2] [--messages 3]
 *        [--lazy-rooms 300] [--members 300] [--cold 3] [--runs 10] [--no-report] [--cpu-prof-dir DIR]
 *        [--keep FILE]
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import pg from "pg";
import { freshDatabase, type ServerProcess, startServerProcess } from "../test/helpers/process.ts";
import { type Seeded, seed } from "./initial-sync-seed.lib.ts";
import { percentile, writeReportSection } from "./report.ts";

const { values } = parseArgs({
  options: {
    smoke: { type: "boolean", default: false },
    rooms: { type: "string", default: "1000" },
    others: { type: "string", default: "2" },
    messages: { type: "string", default: "3" },
    "lazy-rooms": { type: "string", default: "300" },
    members: { type: "string", default: "300" },
    "lazy-messages": { type: "string", default: "5" },
    cold: { type: "string", default: "3" },
    runs: { type: "string", default: "10" },
    concurrency: { type: "string", default: "16" },
    "no-report": { type: "boolean", default: false },
    /** After the measured runs, one more server process under --cpu-prof (one cold and RUNS warm syncs of each shape). */
    "cpu-prof-dir": { type: "string" },
    /**
     * PostgreSQL only: keep the seeded database and write where it is to this file; a later run
     * given the same file measures that database again instead of seeding (comparing two builds).
     */
    keep: { type: "string" },
  },
});
const smoke = values.smoke;
const ROOMS = smoke ? 20 : Number(values.rooms);
const OTHERS = smoke ? 2 : Number(values.others);
const MESSAGES = smoke ? 2 : Number(values.messages);
const LAZY_ROOMS = smoke ? 5 : Number(values["lazy-rooms"]);
const MEMBERS = smoke ? 10 : Number(values.members);
const LAZY_MESSAGES = smoke ? 3 : Number(values["lazy-messages"]);
const COLD = smoke ? 1 : Number(values.cold);
const RUNS = smoke ? 3 : Number(values.runs);
const V3 = "/_matrix/client/v3";
const log = (s: string) => console.log(`[initial-sync] ${s}`);

const FILTERS = {
  many: { room: { timeline: { limit: 20 } } },
  lazy: { room: { state: { lazy_load_members: true }, timeline: { limit: 20 } } },
} as const;
type ShapeName = keyof typeof FILTERS;

type Sample = { client: number; server: number; bytes: number; body: string };
let requestSeq = 0;

/** The server's own time for a request, from its request log line (pino, msg "request"). */
async function serverMs(server: ServerProcess, id: string): Promise<number> {
  const needle = `"request_id":"${id}"`;
  for (let i = 0; i < 100; i++) {
    for (let k = server.output.length - 1; k >= 0; k--) {
      const line = server.output[k]!;
      if (line.includes(needle)) return (JSON.parse(line) as { ms: number }).ms;
    }
    await new Promise((r) => setTimeout(r, 10));
  }
  return Number.NaN;
}

async function initialSync(server: ServerProcess, user: Seeded, shape: ShapeName): Promise<Sample> {
  const id = `bench-is-${++requestSeq}`;
  const filter = encodeURIComponent(JSON.stringify(FILTERS[shape]));
  const t0 = performance.now();
  const res = await fetch(`${server.baseUrl}${V3}/sync?timeout=0&filter=${filter}`, {
    headers: { Authorization: `Bearer ${user.accessToken}`, "X-Request-Id": id },
  });
  const body = await res.text();
  const client = performance.now() - t0;
  if (res.status !== 200) throw new Error(`/sync ${shape}: ${res.status} ${body.slice(0, 300)}`);
  return { client, server: await serverMs(server, id), bytes: Buffer.byteLength(body), body };
}

type SyncBody = {
  rooms?: {
    join?: Record<string, { state?: { events: { type: string }[] }; timeline?: { events: unknown[] } }>;
  };
};
type Census = { rooms: number; state: number; members: number; timeline: number };
/** What the response holds: joined rooms, events in `state` (member events among them), timeline events. */
function census(body: string): Census {
  const join = (JSON.parse(body) as SyncBody).rooms?.join ?? {};
  let state = 0;
  let members = 0;
  let timeline = 0;
  for (const r of Object.values(join)) {
    const events = r.state?.events ?? [];
    state += events.length;
    members += events.filter((e) => e.type === "m.room.member").length;
    timeline += r.timeline?.events.length ?? 0;
  }
  return { rooms: Object.keys(join).length, state, members, timeline };
}

/** Serialising the same body again: a bound on the part of the response that is pure output. */
function stringifyMs(body: string): number {
  const obj = JSON.parse(body) as unknown;
  const xs: number[] = [];
  for (let i = 0; i < 7; i++) {
    const t = performance.now();
    JSON.stringify(obj);
    xs.push(performance.now() - t);
  }
  return percentile(
    xs.sort((a, b) => a - b),
    50,
  );
}

/**
 * What the response is built from, read with one statement: the user's joined rooms, their last
 * 20 events, and their current state (with `lazy`, memberships only of the timeline's senders and
 * the user). The server does more (visibility, unread counts, account data, to-device…): this
 * bounds what reading the rooms could cost, not the whole response.
 */
const CEILING_SQL = (lazy: boolean) => `
WITH mine AS (
  SELECT room_id FROM messaging.conversation_members WHERE user_id = $1 AND membership = 'join'
), tl AS (
  SELECT t.room_id, t.sender, t.pdu FROM mine CROSS JOIN LATERAL (
    SELECT room_id, sender, pdu FROM messaging.messages x WHERE x.room_id = mine.room_id
    ORDER BY stream_position DESC LIMIT 20) t
)
SELECT pdu FROM tl
UNION ALL
SELECT m.pdu FROM messaging.room_state s JOIN messaging.messages m ON m.event_id = s.event_id
WHERE s.room_id IN (SELECT room_id FROM mine)${
  lazy
    ? ` AND (s.type <> 'm.room.member' OR s.state_key = $1
       OR (s.room_id, s.state_key) IN (SELECT room_id, sender FROM tl))`
    : ""
}`;

async function sqlCeiling(url: string, userId: string, lazy: boolean): Promise<{ ms: number; rows: number }> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    const xs: number[] = [];
    let rows = 0;
    for (let i = 0; i < 5; i++) {
      const t = performance.now();
      const r = await c.query(CEILING_SQL(lazy), [userId]);
      xs.push(performance.now() - t);
      rows = r.rowCount ?? 0;
    }
    return {
      ms: percentile(
        xs.sort((a, b) => a - b),
        50,
      ),
      rows,
    };
  } finally {
    await c.end();
  }
}

type Stats = { p50: number; max: number; n: number };
function stats(xs: number[]): Stats {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  return { p50: percentile(s, 50), max: s[s.length - 1] ?? Number.NaN, n: s.length };
}
type Measured = {
  cold: { client: Stats; server: Stats };
  warm: { client: Stats; server: Stats };
  bytes: number;
  census: Census;
  stringify: number;
  sql: { ms: number; rows: number } | null;
};

/**
 * A database that has just taken 100,000 writes has no planner statistics and every updated row
 * still in its indexes until autovacuum has passed (the outbox's pending index then scans every
 * published row). Autovacuum does that within minutes on a server that has it on; this machine's
 * PostgreSQL runs with it off, so the benchmark does it once, as autovacuum would have.
 */
async function vacuumAnalyze(url: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const t = Date.now();
    await client.query("VACUUM (ANALYZE)");
    log(`VACUUM (ANALYZE) in ${((Date.now() - t) / 1000).toFixed(1)} s`);
  } finally {
    await client.end();
  }
}

type Kept = { url: string; seeded: Awaited<ReturnType<typeof seed>> };
const keepFile = values.keep;
const kept = keepFile && existsSync(keepFile) ? (JSON.parse(readFileSync(keepFile, "utf8")) as Kept) : null;
const db = kept ? { url: kept.url, drop: async () => {} } : await freshDatabase();
if (keepFile && !db) throw new Error("--keep needs DATABASE_URL");
const dataDir = db ? null : mkdtempSync(path.join(tmpdir(), "nova-initial-sync-"));
const env: Record<string, string> = db ? { DATABASE_URL: db.url } : { NOVA_DATA_DIR: dataDir! };
const backend = db ? "PostgreSQL" : "embedded PGlite";
let server: ServerProcess | null = null;
try {
  log(
    `${backend}: many = ${ROOMS} rooms × ${OTHERS} others × ${MESSAGES} messages; lazy = ${LAZY_ROOMS} rooms × ${MEMBERS} members; ${COLD} cold, ${RUNS} warm`,
  );
  const seeded =
    kept?.seeded ??
    (await seed(
      env,
      {
        many: { rooms: ROOMS, others: OTHERS, messages: MESSAGES },
        lazy: { rooms: LAZY_ROOMS, others: MEMBERS - 1, messages: LAZY_MESSAGES },
      },
      Number(values.concurrency),
    ));
  if (keepFile && db && !kept)
    writeFileSync(keepFile, JSON.stringify({ url: db.url, seeded } satisfies Kept));
  if (kept) log(`reusing the database seeded earlier (${keepFile})`);
  log(`seeded in ${seeded.seconds.toFixed(0)} s`);
  if (db) await vacuumAnalyze(db.url);
  const shapes: ShapeName[] = ["many", "lazy"];
  const cold: Record<ShapeName, Sample[]> = { many: [], lazy: [] };
  const warm: Record<ShapeName, Sample[]> = { many: [], lazy: [] };
  for (let c = 0; c < COLD; c++) {
    if (server) await server.stop("SIGTERM", { keepData: true });
    server = await startServerProcess(env, dataDir ? { dataDir } : {});
    // Each restart lets the other shape go first, so neither is always second into a warm JIT.
    const order = c % 2 === 0 ? shapes : [...shapes].reverse();
    for (const s of order) {
      const sample = await initialSync(server, seeded[s], s);
      cold[s].push(sample);
      log(`restart ${c + 1}: ${s} cold ${sample.client.toFixed(0)} ms (server ${sample.server} ms)`);
    }
  }
  for (const s of shapes) {
    for (let i = 0; i < RUNS; i++) warm[s].push(await initialSync(server!, seeded[s], s));
    const w = stats(warm[s].map((x) => x.client));
    log(`${s} warm p50 ${w.p50.toFixed(0)} ms, max ${w.max.toFixed(0)} ms over ${RUNS} runs`);
  }
  const results = {} as Record<ShapeName, Measured>;
  for (const s of shapes) {
    const last = warm[s][warm[s].length - 1]!;
    const sql = db ? await sqlCeiling(db.url, seeded[s].userId, s === "lazy") : null;
    results[s] = {
      cold: { client: stats(cold[s].map((x) => x.client)), server: stats(cold[s].map((x) => x.server)) },
      warm: { client: stats(warm[s].map((x) => x.client)), server: stats(warm[s].map((x) => x.server)) },
      bytes: last.bytes,
      census: census(last.body),
      stringify: stringifyMs(last.body),
      sql,
    };
  }
  const md = section(results, seeded.seconds);
  console.log(`\n${md}\n`);
  if (!values["no-report"]) writeReportSection("initial-sync", md);
  const profDir = values["cpu-prof-dir"];
  if (profDir) {
    // Outside the measured runs: the profiler's own cost stays out of the report's numbers.
    for (const s of shapes) {
      await server!.stop("SIGTERM", { keepData: true });
      server = await startServerProcess(env, {
        ...(dataDir ? { dataDir } : {}),
        nodeArgs: ["--cpu-prof", `--cpu-prof-dir=${path.join(profDir, s)}`],
      });
      for (let i = 0; i <= RUNS; i++) await initialSync(server, seeded[s], s);
    }
    log(`CPU profiles (one cold and ${RUNS} warm syncs each) in ${profDir}/{many,lazy}`);
  }
} finally {
  await server?.stop();
  if (!keepFile) await db?.drop();
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
}

function section(r: Record<ShapeName, Measured>, seedSeconds: number): string {
  const f = (x: number) => (Number.isFinite(x) ? x.toFixed(1) : "—");
  const pair = (p: { client: Stats; server: Stats }) =>
    `${f(p.server.p50)} / ${f(p.server.max)} ms (loopback ${f(p.client.p50)} / ${f(p.client.max)} ms)`;
  const verdict = (ms: number, target: number) => (ms <= target ? "met" : "**missed**");
  const ceiling = (m: Measured) =>
    `JSON.stringify of the body: ${f(m.stringify)} ms; ${m.sql ? `raw SQL (${m.sql.rows} rows): ${f(m.sql.ms)} ms` : "raw SQL needs DATABASE_URL"}`;
  const what = (m: Measured) =>
    `${m.census.rooms} rooms, ${m.census.timeline} timeline events, ${m.census.state} state events (${m.census.members} of them members), ${(m.bytes / 1024).toFixed(0)} KiB`;
  const load = loadavg()
    .map((l) => l.toFixed(1))
    .join(" / ");
  return `## Initial /sync (bench/initial-sync.ts, issue #15)

Server as \`npm start\` runs it (own process, request log on), on ${backend}; one client, one request at a time, over loopback; \`GET /sync?timeout=0\` with no \`since\`. Seeded through the in-process services in ${seedSeconds.toFixed(0)} s${kept ? " (by an earlier run, reused with `--keep`)" : ""}: **many** — the user created ${ROOMS} public rooms, ${OTHERS} other users joined each, then ${MESSAGES} messages; **lazy** — ${LAZY_ROOMS} rooms the user created, the same ${MEMBERS - 1} other users joined every one (${LAZY_ROOMS * MEMBERS} memberships), then ${LAZY_MESSAGES} messages by members. Cold: the user's first /sync after a restart of the server process (${COLD} restarts; the two users alternate going first); warm: ${RUNS} repeats in the last process. Server time is the request log's \`ms\` (auth, the sync, serialisation); loopback is the client's round trip. Cells: p50 / max.

| measurement | filter | cold | warm | response | ceiling (same run) | target |
|---|---|---|---|---|---|---|
| user in ${ROOMS} rooms | \`${JSON.stringify(FILTERS.many)}\` | ${pair(r.many.cold)} | ${pair(r.many.warm)} | ${what(r.many)} | ${ceiling(r.many)} | cold ≤ 300 ms: ${verdict(r.many.cold.client.p50, 300)}; warm ≤ 100 ms: ${verdict(r.many.warm.client.p50, 100)} |
| lazy-loaded members, ${LAZY_ROOMS} rooms × ${MEMBERS} members | \`${JSON.stringify(FILTERS.lazy)}\` | ${pair(r.lazy.cold)} | ${pair(r.lazy.warm)} | ${what(r.lazy)} | ${ceiling(r.lazy)} | ≤ 1 s: cold ${verdict(r.lazy.cold.client.p50, 1000)}, warm ${verdict(r.lazy.warm.client.p50, 1000)} |

On PostgreSQL the seeded database is vacuumed and analysed once before the measurements (this machine runs PostgreSQL with autovacuum off; a server with it on does the same within minutes of the writes).

Targets are judged on the loopback p50. The ceilings bound two parts of the work, not the whole: serialising the body once (the server also builds the objects it serialises), and one SQL statement returning the events the response is made of (their PDUs; the server also checks visibility, counts unreads, reads account data, receipts and devices).

Load average (1/5/15 min) when written: ${load} on this shared ${cpus().length}-core machine.`;
}
