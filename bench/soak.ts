/**
 * Issue #16's soak: the server as `npm start` runs it (embedded PGlite, or PostgreSQL with
 * DATABASE_URL), under a steady mixed load at a fixed moderate rate for `--minutes` (default 30):
 * HTTP long-poll and WebSocket syncs, room sends, to-device messages, typing, joins and leaves,
 * rooms created along the way, small media uploads and downloads. The server's RSS (/proc) and V8
 * heap (its inspector) are sampled every few seconds, its live heap after a forced full collection
 * every minute; the report gives them over time and their least-squares slope after the warm-up.
 * Heap snapshots after the warm-up and at the end tell how much of the growth the server's bounded
 * caches took (bench/soak-heap.lib.ts). A leak is a bug: the run fails when the heap outside them
 * grows faster than `--limit-mb-h`, or when any request failed. Writes bench/REPORT.md between `<!-- soak:start -->` and `<!-- soak:end -->`.
 *
 * Usage: tsx bench/soak.ts [--minutes 30] [--warmup 5] [--users 40] [--rooms 20] [--members 8]
 *        [--sends 4] [--to-device 1] [--typing 1] [--joins 0.3] [--limit-mb-h 10]
 *        [--heap-snapshots DIR (keep them)] [--no-report]
 */
import { setMaxListeners } from "node:events";
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { freshDatabase, type ServerProcess, startServerProcess } from "../test/helpers/process.ts";
import { writeReportSection } from "./report.ts";
import { breakdown } from "./soak-heap.lib.ts";
import { cacheEntries, cpuSeconds, Inspector, rssBytes } from "./soak-inspect.lib.ts";
import {
  Client,
  Counters,
  connectSocket,
  type Kind,
  longPollLoop,
  randomTxn,
  type User,
  uploadAndDownload,
} from "./soak-load.lib.ts";
import { lastOf, renderReport, type Sample, type SoakResult } from "./soak-report.lib.ts";

const { values } = parseArgs({
  options: {
    minutes: { type: "string", default: "30" },
    warmup: { type: "string" },
    users: { type: "string", default: "40" },
    rooms: { type: "string", default: "20" },
    members: { type: "string", default: "8" },
    sends: { type: "string", default: "4" },
    "to-device": { type: "string", default: "1" },
    typing: { type: "string", default: "1" },
    joins: { type: "string", default: "0.3" },
    "create-every": { type: "string", default: "30" },
    "upload-every": { type: "string", default: "15" },
    "sample-seconds": { type: "string" },
    "gc-seconds": { type: "string" },
    "limit-mb-h": { type: "string", default: "10" },
    "heap-snapshots": { type: "string" },
    "no-report": { type: "boolean", default: false },
  },
});
const MINUTES = Number(values.minutes);
const SHORT = MINUTES < 5;
const WARMUP = values.warmup !== undefined ? Number(values.warmup) : Math.min(5, MINUTES / 3);
const USERS = Number(values.users);
const ROOMS = Number(values.rooms);
const MEMBERS = Math.min(Number(values.members), USERS);
const SAMPLE_S = Number(values["sample-seconds"] ?? (SHORT ? 1 : 5));
const GC_S = Number(values["gc-seconds"] ?? (SHORT ? 4 : 60));
const LIMIT = Number(values["limit-mb-h"]);
/** Operations in flight at once; beyond it a tick is skipped and counted (the server fell behind). */
const MAX_IN_FLIGHT = 64;
const V3 = "/_matrix/client/v3";
const BASE = "soak-after-warmup.heapsnapshot";
const END = "soak-end.heapsnapshot";
const log = (s: string) => console.log(`[soak] ${s}`);
const enc = encodeURIComponent;
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(Math.random() * xs.length)]!;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

type Room = { id: string; members: Set<number> };

/** The load: who is in which room (as the server confirmed it), and the operations of the mix. */
class Mix {
  readonly rooms: Room[] = [];
  private readonly busy = new Map<string, number>();
  private readonly changing = new Set<string>();
  inFlight = 0;
  readonly skipped = new Map<Kind, number>();
  private readonly running = new Set<Promise<void>>();

  constructor(
    private readonly c: Client,
    private readonly users: User[],
  ) {}

  /** Runs `op` unless too much is in flight already. */
  launch(kind: Kind, op: () => Promise<void>): void {
    if (this.inFlight >= MAX_IN_FLIGHT) {
      this.skipped.set(kind, (this.skipped.get(kind) ?? 0) + 1);
      return;
    }
    this.inFlight++;
    const p = op().finally(() => {
      this.inFlight--;
      this.running.delete(p);
    });
    this.running.add(p);
  }

  async drain(): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const limit = new Promise((r) => {
      timer = setTimeout(r, 30_000);
    });
    await Promise.race([Promise.allSettled([...this.running]), limit]);
    clearTimeout(timer);
  }

  /** A random (room, member) with no membership change under way, marked busy while `op` runs. */
  private async asMember(op: (room: Room, u: User) => Promise<void>): Promise<void> {
    const withMembers = this.rooms.filter((r) => r.members.size > 0);
    if (withMembers.length === 0) return;
    const room = pick(withMembers);
    const u = this.users[pick([...room.members])]!;
    const key = `${room.id}|${u.i}`;
    this.busy.set(key, (this.busy.get(key) ?? 0) + 1);
    try {
      await op(room, u);
    } finally {
      const n = this.busy.get(key)! - 1;
      if (n === 0) this.busy.delete(key);
      else this.busy.set(key, n);
    }
  }

  send = () =>
    this.asMember(async (room, u) => {
      const content = {
        msgtype: "m.text",
        body: `soak ${Date.now()} ${"x".repeat(Math.floor(Math.random() * 200))}`,
      };
      if (u.ws) await this.c.overSocket("send", () => u.ws!.sendEvent(room.id, "m.room.message", content));
      else
        await this.c.http(
          "send",
          "PUT",
          `${V3}/rooms/${enc(room.id)}/send/m.room.message/${randomTxn()}`,
          u.token,
          content,
        );
    });

  typing = () =>
    this.asMember(async (room, u) => {
      if (u.ws) await this.c.overSocket("typing", () => u.ws!.setTyping(room.id, true, 5_000));
      else
        await this.c.http("typing", "PUT", `${V3}/rooms/${enc(room.id)}/typing/${enc(u.userId)}`, u.token, {
          typing: true,
          timeout: 5_000,
        });
    });

  toDevice = async () => {
    const from = pick(this.users);
    let to = pick(this.users);
    if (to === from) to = this.users[(from.i + 1) % this.users.length]!;
    const messages = { [to.userId]: { [to.deviceId]: { body: `soak to-device ${Date.now()}` } } };
    if (from.ws) await this.c.overSocket("toDevice", () => from.ws!.sendToDevice("m.soak", messages));
    else
      await this.c.http("toDevice", "PUT", `${V3}/sendToDevice/m.soak/${randomTxn()}`, from.token, {
        messages,
      });
  };

  /** A random user joins a random room they are not in, or leaves one they are in (keeping two). */
  joinOrLeave = async () => {
    const room = pick(this.rooms);
    const u = pick(this.users);
    const key = `${room.id}|${u.i}`;
    if (this.changing.has(key)) return;
    this.changing.add(key);
    try {
      if (room.members.has(u.i)) {
        if (room.members.size <= 2 || this.busy.has(key)) return;
        room.members.delete(u.i);
        const r = await this.c.http("leave", "POST", `${V3}/rooms/${enc(room.id)}/leave`, u.token, {});
        if (!r) room.members.add(u.i);
      } else await this.join(room, u);
    } finally {
      this.changing.delete(key);
    }
  };

  async join(room: Room, u: User): Promise<void> {
    if (await this.c.http("join", "POST", `${V3}/rooms/${enc(room.id)}/join`, u.token, {}))
      room.members.add(u.i);
  }

  /** A new public room, and a few first members after its creator: state keeps growing. */
  createRoom = async (creator: User = pick(this.users), members = 2) => {
    const r = await this.c.http("createRoom", "POST", `${V3}/createRoom`, creator.token, {
      preset: "public_chat",
      name: `soak room ${this.rooms.length}`,
    });
    if (!r) return;
    const room: Room = { id: r.room_id as string, members: new Set([creator.i]) };
    const others = this.users.filter((u) => u !== creator).sort(() => Math.random() - 0.5);
    for (const u of others.slice(0, members)) await this.join(room, u);
    this.rooms.push(room);
  };

  upload = () => uploadAndDownload(this.c, pick(this.users), 4096 + Math.floor(Math.random() * 8192));
}

async function main() {
  const db = await freshDatabase();
  const backend = db ? "PostgreSQL" : "embedded PGlite";
  log(
    `backend ${backend}; ${MINUTES} min (warm-up ${WARMUP} min), ${USERS} users, ${ROOMS} rooms × ${MEMBERS} members`,
  );
  const server: ServerProcess = await startServerProcess(db ? { DATABASE_URL: db.url } : {}, {
    nodeArgs: ["--inspect=127.0.0.1:0"],
  });
  const pid = server.child.pid!;
  const inspector = await Inspector.attach(server.output);
  const counters = new Counters();
  const c = new Client(server.baseUrl, counters);
  const abort = new AbortController();
  // Every long-poll loop listens on it.
  setMaxListeners(USERS + 10, abort.signal);
  const timers: NodeJS.Timeout[] = [];
  const loops: Promise<void>[] = [];
  const users: User[] = [];
  const mix = new Mix(c, users);
  const samples: Sample[] = [];
  const startLoad = os.loadavg();
  let tRun = 0;
  let windowStartH = Number.NaN;
  let windowEndH = Number.NaN;
  const snapshotDir = values["heap-snapshots"] ?? mkdtempSync(path.join(os.tmpdir(), "nova-soak-"));
  let cachesAfterWarmup: Record<string, number> | null = null;
  let cachesAtEnd: Record<string, number> | null = null;
  try {
    const tag = Date.now().toString(36);
    for (let i = 0; i < USERS; i++) {
      users.push({ ...(await c.register(`soak${tag}_${i}`)), i });
      if ((i + 1) % 10 === 0) log(`registered ${i + 1}/${USERS} users`);
    }
    for (let r = 0; r < ROOMS; r++) {
      await mix.createRoom(users[r % USERS]!, MEMBERS - 1);
      if ((r + 1) % 5 === 0) log(`created ${r + 1}/${ROOMS} rooms`);
    }
    log(`registered ${USERS} users, created ${ROOMS} rooms`);
    // Even users long-poll over HTTP, odd ones hold a socket.
    for (const u of users) {
      if (u.i % 2 === 1) await connectSocket(c, u);
      else loops.push(longPollLoop(c, u, abort.signal));
    }

    const t0 = performance.now();
    tRun = t0;
    const hours = () => (performance.now() - t0) / 3_600_000;
    const every = (seconds: number, f: () => void) => timers.push(setInterval(f, seconds * 1000));
    const perSecond = (rate: number, kind: Kind, op: () => Promise<void>) => {
      if (rate > 0) every(1 / rate, () => mix.launch(kind, op));
    };
    perSecond(Number(values.sends), "send", mix.send);
    perSecond(Number(values["to-device"]), "toDevice", mix.toDevice);
    perSecond(Number(values.typing), "typing", mix.typing);
    perSecond(Number(values.joins), "join", mix.joinOrLeave);
    every(Number(values["create-every"]), () => mix.launch("createRoom", () => mix.createRoom()));
    every(Number(values["upload-every"]), () => mix.launch("upload", mix.upload));

    const read = async (gc: boolean): Promise<Sample> => {
      if (gc) await inspector.collectGarbage();
      const m = await inspector.memory();
      return { h: hours(), rss: rssBytes(pid), cpu: cpuSeconds(pid), ...m, gc, load1: os.loadavg()[0]! };
    };
    let nextGc = 0;
    let nextLog = 0;
    let warm = false;
    const end = t0 + MINUTES * 60_000;
    while (performance.now() < end) {
      await sleep(Math.min(SAMPLE_S * 1000, Math.max(0, end - performance.now())));
      const s = await read(false);
      samples.push(s);
      if (s.h * 3600 >= nextGc) {
        samples.push(await read(true));
        nextGc += GC_S;
      }
      if (!warm && s.h * 60 >= WARMUP) {
        warm = true;
        cachesAfterWarmup = await cacheEntries(server.adminUrl);
        // The snapshot (a full GC, then a copy of the heap) raises RSS to a new high-water mark:
        // the growth window starts once it is done.
        await inspector.heapSnapshot(path.join(snapshotDir, BASE));
        windowStartH = hours();
        log(`heap snapshot after the warm-up in ${snapshotDir}`);
      }
      if (s.h * 60 >= nextLog) {
        nextLog += SHORT ? 0.1 : 1;
        const mb = (b: number) => (b / 2 ** 20).toFixed(0);
        const live = lastOf(samples, (x) => x.gc);
        log(
          `${(s.h * 60).toFixed(1)} min: RSS ${mb(s.rss)} MiB, heap ${mb(s.heapUsed)} MiB (live ${live ? mb(live.heapUsed) : "?"} MiB), ` +
            `${counters.total(counters.ok)} ok, ${counters.total(counters.errors)} errors, ${mix.rooms.length} rooms, load ${s.load1.toFixed(1)}`,
        );
      }
    }
    for (const t of timers) clearInterval(t);
    await mix.drain();
    samples.push(await read(true));
    cachesAtEnd = await cacheEntries(server.adminUrl);
    await inspector.heapSnapshot(path.join(snapshotDir, END));
    windowEndH = hours();
  } catch (err) {
    if (values["heap-snapshots"] === undefined) rmSync(snapshotDir, { recursive: true, force: true });
    throw err;
  } finally {
    for (const t of timers) clearInterval(t);
    abort.abort();
    for (const u of users) u.ws?.close();
    await Promise.allSettled(loops);
    inspector.close();
    await server.stop("SIGTERM");
    await db?.drop();
  }
  let heap: SoakResult["heap"] = null;
  try {
    if (Number.isFinite(windowStartH) && Number.isFinite(windowEndH)) {
      log("reading the heap snapshots");
      heap = {
        base: breakdown(path.join(snapshotDir, BASE)),
        end: breakdown(path.join(snapshotDir, END)),
        hours: windowEndH - windowStartH,
      };
    }
  } finally {
    if (values["heap-snapshots"] === undefined) rmSync(snapshotDir, { recursive: true, force: true });
  }

  const result: SoakResult = {
    backend,
    minutes: MINUTES,
    warmupMinutes: WARMUP,
    users: USERS,
    rooms: ROOMS,
    members: MEMBERS,
    roomsAtEnd: mix.rooms.length,
    rates: {
      sends: Number(values.sends),
      toDevice: Number(values["to-device"]),
      typing: Number(values.typing),
      joins: Number(values.joins),
      createEvery: Number(values["create-every"]),
      uploadEvery: Number(values["upload-every"]),
    },
    sampleSeconds: SAMPLE_S,
    gcSeconds: GC_S,
    limitMbPerHour: LIMIT,
    samples,
    counters,
    skipped: mix.skipped,
    runStartMs: tRun,
    loadStart: startLoad,
    loadEnd: os.loadavg(),
    smoke: SHORT,
    snapshots: values["heap-snapshots"],
    windowStartH,
    heap,
    caches: cachesAfterWarmup && cachesAtEnd ? { warm: cachesAfterWarmup, end: cachesAtEnd } : null,
  };
  const { markdown, errors, verdict } = renderReport(result);
  console.log(markdown);
  if (!values["no-report"]) writeReportSection("soak", markdown);
  console.log(
    `[soak] result ${JSON.stringify({ errors, samples: samples.length, gcSamples: samples.filter((s) => s.gc).length, verdict })}`,
  );
  if (errors > 0 || (!SHORT && verdict === "FAIL")) process.exitCode = 1;
}

await main();
