/**
 * Issue #17's benchmark: simplified sliding sync (MSC4186) for a user in many rooms, against the
 * targets "first response for a user in 1,000 rooms with a list range [0, 19], timeline_limit: 1
 * ≤ 100 ms; incremental response after one new event ≤ 5 ms at the server".
 *   1. first response (no `pos`) with Element X's room list request: cold (the first request of
 *      a freshly started server process) and warm (repeated new connections), p50/p95;
 *   2. incremental: with a `pos`, another user sends one event, then the next request
 *      (`timeout=0`) — once into the room at the top of the list, once into a room outside the
 *      window, which moves into it;
 *   3. in the same run, as ceiling and reference: GET /account/whoami (a trivial authenticated
 *      request) and /sync for the same user (initial with timeline limit 1, incremental after
 *      one event).
 * Each latency is taken on loopback by the client and at the server (the request log's `ms`,
 * matched by X-Request-Id). Runs on embedded PGlite and, with DATABASE_URL, on PostgreSQL.
 * Writes bench/REPORT.md between `<!-- sliding:start -->` and `<!-- sliding:end -->`.
 *
 * Usage: tsx bench/sliding-sync.ts [--smoke] [--rooms 1000] [--messages 3] [--runs 30]
 *        [--rounds 50] [--backends pglite,postgres] [--no-report]
 */
import { loadavg } from "node:os";
import { parseArgs } from "node:util";
import { freshDatabase, type ServerProcess, startServerProcess } from "../test/helpers/process.ts";
import { roomList, SS } from "../test/sliding/element-x.ts";
import { pool } from "./pool.lib.ts";
import { percentile, writeReportSection } from "./report.ts";

const { values } = parseArgs({
  options: {
    smoke: { type: "boolean", default: false },
    rooms: { type: "string", default: "1000" },
    messages: { type: "string", default: "3" },
    runs: { type: "string", default: "30" },
    rounds: { type: "string", default: "50" },
    backends: { type: "string", default: "pglite,postgres" },
    "no-report": { type: "boolean", default: false },
  },
});
const smoke = values.smoke;
const ROOMS = smoke ? 30 : Number(values.rooms);
const MESSAGES = smoke ? 1 : Number(values.messages);
const RUNS = smoke ? 3 : Number(values.runs);
const ROUNDS = smoke ? 3 : Number(values.rounds);
/** Rooms the other user is in, spread over the list; each send goes to the next in turn. */
const OTHER_ROOMS = Math.min(ROOMS, 50);
const V3 = "/_matrix/client/v3";
const log = (s: string) => console.log(`[sliding] ${s}`);

/** Element X's room list request (checklist §3.4). */
const LIST_BODY = { conn_id: "room-list", lists: { all: roomList([0, 19]) } };
/** /sync's reference request: every room, one timeline event each. */
const SYNC_FILTER = encodeURIComponent(JSON.stringify({ room: { timeline: { limit: 1 } } }));

type Account = { userId: string; accessToken: string };
type Timed = { client: number; server: number };

let requestSeq = 0;

/** One request; the latency on loopback, and the request id to find the server's own time. */
async function call(
  base: string,
  method: string,
  p: string,
  token?: string,
  body?: unknown,
): Promise<{ json: Record<string, unknown>; ms: number; id: string }> {
  for (let attempt = 0; ; attempt++) {
    const id = `bench-ss-${++requestSeq}`;
    const t0 = performance.now();
    const res = await fetch(base + p, {
      method,
      headers: {
        ...(token ? { Authorization: `Bearer ${token}` } : {}),
        "Content-Type": "application/json",
        "X-Request-Id": id,
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    const ms = performance.now() - t0;
    const json = JSON.parse(text) as Record<string, unknown>;
    if (res.status === 429 && attempt < 20) {
      await new Promise((r) => setTimeout(r, Number(json.retry_after_ms ?? 200)));
      continue;
    }
    if (res.status !== 200) throw new Error(`${method} ${p}: ${res.status} ${text.slice(0, 300)}`);
    return { json, ms, id };
  }
}

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

async function timed(server: ServerProcess, r: { ms: number; id: string }): Promise<Timed> {
  return { client: r.ms, server: await serverMs(server, r.id) };
}

async function register(base: string, username: string): Promise<Account> {
  const r = await call(base, "POST", `${V3}/register`, undefined, {
    username,
    password: "bench password",
    auth: { type: "m.login.dummy" },
  });
  return { userId: r.json.user_id as string, accessToken: r.json.access_token as string };
}

let txn = 0;
async function sendText(base: string, who: Account, roomId: string, body: string): Promise<string> {
  const r = await call(
    base,
    "PUT",
    `${V3}/rooms/${encodeURIComponent(roomId)}/send/m.room.message/b${++txn}`,
    who.accessToken,
    { msgtype: "m.text", body },
  );
  return r.json.event_id as string;
}

/** The user in ROOMS named rooms with MESSAGES messages each; the other user in OTHER_ROOMS of them. */
async function seed(base: string): Promise<{ me: Account; other: Account; otherRooms: string[] }> {
  const t = performance.now();
  const me = await register(base, "slider");
  const other = await register(base, "other");
  const rooms: string[] = new Array(ROOMS);
  await pool([...Array(ROOMS).keys()], 4, async (i) => {
    const r = await call(base, "POST", `${V3}/createRoom`, me.accessToken, {
      name: `Room ${i}`,
      preset: "public_chat",
    });
    rooms[i] = r.json.room_id as string;
    for (let m = 0; m < MESSAGES; m++) await sendText(base, me, rooms[i]!, `message ${m} in room ${i}`);
    if ((i + 1) % 100 === 0) log(`created ${i + 1}/${ROOMS} rooms`);
  });
  const step = Math.max(1, Math.floor(ROOMS / OTHER_ROOMS));
  const otherRooms = rooms.filter((_, i) => i % step === 0).slice(0, OTHER_ROOMS);
  await pool(otherRooms, 4, async (roomId) => {
    await call(base, "POST", `${V3}/join/${encodeURIComponent(roomId)}`, other.accessToken, {});
    await sendText(base, other, roomId, "hello");
  });
  log(`seeded ${ROOMS} rooms × ${MESSAGES} messages in ${((performance.now() - t) / 1000).toFixed(1)} s`);
  return { me, other, otherRooms };
}

type Stats = { p50: number; p95: number; n: number };
function stats(xs: number[]): Stats {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  return { p50: percentile(s, 50), p95: percentile(s, 95), n: s.length };
}
type Pair = { client: Stats; server: Stats };
function pair(ts: Timed[]): Pair {
  return { client: stats(ts.map((t) => t.client)), server: stats(ts.map((t) => t.server)) };
}

type Result = {
  backend: string;
  seedSeconds: number;
  cold: Timed;
  warm: Pair;
  roomsInFirst: number;
  listCount: number;
  incTop: Pair;
  incOutside: Pair;
  incMisses: number;
  whoami: Pair;
  syncInitial: Pair;
  syncInc: Pair;
};

async function runBackend(backend: "pglite" | "postgres"): Promise<Result> {
  const db = backend === "postgres" ? await freshDatabase() : null;
  const env: Record<string, string> = db ? { DATABASE_URL: db.url } : {};
  let server = await startServerProcess(env);
  try {
    const t = performance.now();
    const { me, other, otherRooms } = await seed(server.baseUrl);
    const seedSeconds = (performance.now() - t) / 1000;

    // A fresh process: nothing of the user is cached, nothing of sliding sync compiled.
    const dataDir = server.dataDir;
    await server.stop("SIGTERM", { keepData: true });
    server = await startServerProcess(env, { dataDir });
    const base = server.baseUrl;
    const first = await call(base, "POST", SS, me.accessToken, LIST_BODY);
    const cold = await timed(server, first);
    const listCount = (first.json.lists as Record<string, { count: number }>).all?.count ?? 0;
    const roomsInFirst = Object.keys(first.json.rooms as object).length;
    log(
      `${backend}: cold first response ${cold.client.toFixed(1)} ms (server ${cold.server} ms), ${roomsInFirst} rooms, list count ${listCount}`,
    );

    const whoami: Timed[] = [];
    const warm: Timed[] = [];
    const syncInitial: Timed[] = [];
    let pos = "";
    for (let i = 0; i < RUNS; i++) {
      whoami.push(await timed(server, await call(base, "GET", `${V3}/account/whoami`, me.accessToken)));
      const r = await call(base, "POST", SS, me.accessToken, LIST_BODY);
      warm.push(await timed(server, r));
      pos = r.json.pos as string;
      const sy = await call(base, "GET", `${V3}/sync?timeout=0&filter=${SYNC_FILTER}`, me.accessToken);
      syncInitial.push(await timed(server, sy));
    }
    log(
      `${backend}: warm first response p50 ${stats(warm.map((w) => w.client)).p50.toFixed(1)} ms over ${RUNS} runs`,
    );

    // Incremental. The top room: the one the last send went to. Outside: the other user's rooms
    // in turn, each last bumped OTHER_ROOMS sends ago, so below the window of 20.
    const incTop: Timed[] = [];
    const incOutside: Timed[] = [];
    let misses = 0;
    let turn = 0;
    const incremental = async (roomId: string, into: Timed[]) => {
      const eventId = await sendText(base, other, roomId, `round ${turn}`);
      const r = await call(
        base,
        "POST",
        `${SS}?pos=${encodeURIComponent(pos)}&timeout=0`,
        me.accessToken,
        LIST_BODY,
      );
      into.push(await timed(server, r));
      pos = r.json.pos as string;
      const room = (r.json.rooms as Record<string, { timeline?: { event_id: string }[] }>)[roomId];
      if (!room?.timeline?.some((e) => e.event_id === eventId)) misses++;
    };
    for (let i = 0; i < ROUNDS; i++) {
      const outside = otherRooms[turn++ % otherRooms.length]!;
      await incremental(outside, incOutside);
      await incremental(outside, incTop);
    }
    log(
      `${backend}: incremental p50 ${stats(incTop.map((w) => w.server)).p50} ms (server), ${misses} misses`,
    );

    const syncInc: Timed[] = [];
    let since = (await call(base, "GET", `${V3}/sync?timeout=0&filter=${SYNC_FILTER}`, me.accessToken)).json
      .next_batch as string;
    for (let i = 0; i < ROUNDS; i++) {
      await sendText(base, other, otherRooms[turn++ % otherRooms.length]!, `sync round ${i}`);
      const r = await call(
        base,
        "GET",
        `${V3}/sync?timeout=0&filter=${SYNC_FILTER}&since=${encodeURIComponent(since)}`,
        me.accessToken,
      );
      syncInc.push(await timed(server, r));
      since = r.json.next_batch as string;
    }
    return {
      backend: backend === "postgres" ? "PostgreSQL" : "embedded PGlite",
      seedSeconds,
      cold,
      warm: pair(warm),
      roomsInFirst,
      listCount,
      incTop: pair(incTop),
      incOutside: pair(incOutside),
      incMisses: misses,
      whoami: pair(whoami),
      syncInitial: pair(syncInitial),
      syncInc: pair(syncInc),
    };
  } finally {
    await server.stop();
    await db?.drop();
  }
}

const f = (x: number) => (Number.isFinite(x) ? x.toFixed(1) : "—");
const cell = (p: Pair) =>
  `${f(p.server.p50)} / ${f(p.server.p95)} ms (loopback ${f(p.client.p50)} / ${f(p.client.p95)} ms)`;
const ratio = (a: Pair, b: Pair) => {
  const r = a.server.p50 / b.server.p50;
  return Number.isFinite(r) ? `${r.toFixed(r < 1 ? 2 : 1)}×` : "—";
};
const verdict = (ms: number, target: number) => (ms <= target ? "met" : "**missed**");
const verdicts = (s: Stats, target: number) => `p50 ${verdict(s.p50, target)}, p95 ${verdict(s.p95, target)}`;

function section(results: Result[], skipped: string[]): string {
  const parts = results.map(
    (r) => `### ${r.backend}

Setup: ${ROOMS} rooms × (creation + ${MESSAGES} messages) by the user, another user in ${OTHER_ROOMS} of them, ${r.seedSeconds.toFixed(0)} s over HTTP. First response: ${r.roomsInFirst} rooms of a list count of ${r.listCount}.

| measurement (server p50 / p95, loopback in brackets) | sliding sync | reference in the same run | sliding / reference (server p50) | target |
|---|---|---|---|---|
| first response, cold (first request of a fresh server process; one sample) | ${f(r.cold.server)} ms (loopback ${f(r.cold.client)} ms) | — | — | ≤ 100 ms: ${verdict(r.cold.client, 100)} |
| first response, warm (new connection, no \`pos\`; ${r.warm.server.n} runs) | ${cell(r.warm)} | \`/sync\` initial, timeline limit 1, all ${ROOMS} rooms: ${cell(r.syncInitial)} | ${ratio(r.warm, r.syncInitial)} | ≤ 100 ms: ${verdicts(r.warm.client, 100)} |
| incremental, one new event in the room at the top (${r.incTop.server.n} rounds) | ${cell(r.incTop)} | \`/sync\` incremental after one event: ${cell(r.syncInc)} | ${ratio(r.incTop, r.syncInc)} | ≤ 5 ms at the server: ${verdicts(r.incTop.server, 5)} |
| incremental, one new event in a room outside the window, which moves into it (${r.incOutside.server.n} rounds) | ${cell(r.incOutside)} | same | ${ratio(r.incOutside, r.syncInc)} | ≤ 5 ms at the server: ${verdicts(r.incOutside.server, 5)} |
| ceiling: GET /account/whoami | ${cell(r.whoami)} | — | — | — |

Incremental responses that lacked the new event: ${r.incMisses}.`,
  );
  const load = loadavg()
    .map((l) => l.toFixed(1))
    .join(" / ");
  return `## Simplified sliding sync (bench/sliding-sync.ts, issue #17)

Server as \`npm start\` runs it (own process, request log on); one client, one request at a time, over loopback. Request: Element X's room list — one list, range [0, 19], timeline_limit 1, required_state name, encryption, member $LAZY and $ME, avatar, create. Server time is the request log's \`ms\` (request in to response written: auth, body parsing, the sync, serialisation); loopback is the client's round trip. The first-response targets are judged on loopback, the incremental ones on the server's time.

${parts.join("\n\n")}
${skipped.map((s) => `\n${s}`).join("")}

Load average (1/5/15 min) when written: ${load} on this shared 2-core machine.`;
}

const results: Result[] = [];
const skipped: string[] = [];
for (const b of values.backends.split(",")) {
  if (b !== "pglite" && b !== "postgres") throw new Error(`unknown backend ${b}`);
  if (b === "postgres" && !process.env.DATABASE_URL) {
    skipped.push("PostgreSQL skipped: DATABASE_URL is not set.");
    log("PostgreSQL skipped: DATABASE_URL is not set");
    continue;
  }
  log(`${b}: ${ROOMS} rooms, ${RUNS} runs, ${ROUNDS} rounds`);
  results.push(await runBackend(b));
}
const md = section(results, skipped);
console.log(`\n${md}\n`);
if (!values["no-report"]) writeReportSection("sliding", md);
