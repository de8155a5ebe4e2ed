/** bench/soak.ts's report: memory over time, slopes after the warm-up, requests, the verdict. */
import { percentile } from "./report.ts";
import { BOUNDED, type HeapBreakdown } from "./soak-heap.lib.ts";
import { type HeapReading, type Slope, slope } from "./soak-inspect.lib.ts";
import type { Counters, Kind } from "./soak-load.lib.ts";

export type Sample = HeapReading & {
  /** Hours since the load started. */
  h: number;
  rss: number;
  /** CPU seconds the server has used so far. */
  cpu: number;
  /** Read right after a forced full collection: the heap then holds only what is live. */
  gc: boolean;
  load1: number;
};

export type SoakResult = {
  backend: string;
  minutes: number;
  warmupMinutes: number;
  users: number;
  rooms: number;
  members: number;
  roomsAtEnd: number;
  rates: {
    sends: number;
    toDevice: number;
    typing: number;
    joins: number;
    createEvery: number;
    uploadEvery: number;
  };
  sampleSeconds: number;
  gcSeconds: number;
  limitMbPerHour: number;
  samples: Sample[];
  counters: Counters;
  skipped: Map<Kind, number>;
  runStartMs: number;
  loadStart: number[];
  loadEnd: number[];
  smoke: boolean;
  /** Directory the heap snapshots at the warm-up's end and the run's end went to, if any. */
  snapshots?: string;
  /** In-process cache entries at the warm-up's end and at the end (null: /metrics not reachable). */
  caches: { warm: Record<string, number>; end: Record<string, number> } | null;
  /** Hours into the load when the growth window starts (the snapshot after the warm-up done). */
  windowStartH: number;
  /** The two snapshots' breakdown and the hours between them (null: the run ended before). */
  heap: { base: HeapBreakdown; end: HeapBreakdown; hours: number } | null;
};

const MiB = 2 ** 20;
const mb = (b: number) => (Number.isFinite(b) ? (b / MiB).toFixed(1) : "n/a");
const rate = (s: Slope) => (Number.isFinite(s.perHour) ? `${(s.perHour / MiB).toFixed(1)} MiB/h` : "n/a");
const ci = (s: Slope) => (Number.isFinite(s.ci95) ? `± ${(s.ci95 / MiB).toFixed(1)}` : "n/a");
const minutes = (m: number) => String(Number(m.toFixed(2)));
const loads = (l: number[]) => l.map((x) => x.toFixed(1)).join(" / ");

/** The last element matching (Array.prototype.findLast is ES2023, past this project's lib). */
export function lastOf<T>(xs: readonly T[], f: (x: T) => boolean): T | undefined {
  for (let i = xs.length - 1; i >= 0; i--) if (f(xs[i]!)) return xs[i];
  return undefined;
}

const KINDS: [Kind, string][] = [
  ["register", "register (setup)"],
  ["createRoom", "createRoom"],
  ["join", "join"],
  ["leave", "leave"],
  ["send", "room send (HTTP PUT or socket `send`)"],
  ["toDevice", "to-device (HTTP or socket)"],
  ["typing", "typing (HTTP or socket)"],
  ["upload", "media upload (4–12 KiB)"],
  ["download", "media download"],
  ["longPoll", "/sync long-poll responses"],
  ["wsDelta", "WebSocket sync deltas received"],
  ["wsReconnect", "WebSocket reconnects"],
];

/** The snapshots' totals, the bounded caches' share and the rest, and the rest's growth per hour. */
function growth(r: SoakResult) {
  if (!r.heap) return null;
  const { base, end, hours } = r.heap;
  const inCaches = (b: HeapBreakdown) => Object.values(b.owners).reduce((a, x) => a + x, 0);
  const other = (b: HeapBreakdown) => b.total - inCaches(b);
  const rows = BOUNDED.map(({ owner, cap }) => {
    const a = base.owners[owner] ?? 0;
    const b = end.owners[owner] ?? 0;
    return `| \`${owner}\` | ${mb(a)} | ${mb(b)} | ${mb(b - a)} | ${cap} |`;
  });
  rows.push(
    `| **everything else** | ${mb(other(base))} | ${mb(other(end))} | ${mb(other(end) - other(base))} | **${((other(end) - other(base)) / hours / MiB).toFixed(1)} MiB/h** |`,
    `| whole heap (snapshot) | ${mb(base.total)} | ${mb(end.total)} | ${mb(end.total - base.total)} | ${((end.total - base.total) / hours / MiB).toFixed(1)} MiB/h |`,
  );
  return { rows, otherPerHour: (other(end) - other(base)) / hours, hours };
}

function cacheLine(r: SoakResult): string {
  if (!r.caches) return "In-process cache sizes: not read (the server had no admin listener).";
  const { warm, end } = r.caches;
  const names = [...new Set([...Object.keys(warm), ...Object.keys(end)])].sort();
  const parts = names.map((n) => `${n} ${warm[n] ?? 0} → ${end[n] ?? 0}`);
  return `In-process cache entries, warm-up end → end (bounded caches that are still filling grow the live heap without leaking): ${parts.join(", ")}.`;
}

export function renderReport(r: SoakResult): { markdown: string; errors: number; verdict: "PASS" | "FAIL" } {
  const from = Number.isFinite(r.windowStartH) ? r.windowStartH : r.warmupMinutes / 60;
  const afterWarmup = r.samples.filter((s) => s.h >= from);
  const live = afterWarmup.filter((s) => s.gc);
  const series = (pts: Sample[], f: (s: Sample) => number) => pts.map((s) => ({ h: s.h, v: f(s) }));
  const rows: { name: string; pts: Sample[]; f: (s: Sample) => number }[] = [
    { name: "RSS (/proc VmRSS, every sample)", pts: afterWarmup, f: (s) => s.rss },
    { name: "V8 heap used (every sample)", pts: afterWarmup, f: (s) => s.heapUsed },
    { name: "**live heap** (V8 heap used right after a forced full GC)", pts: live, f: (s) => s.heapUsed },
    { name: "external + array buffers (after GC)", pts: live, f: (s) => s.external + s.arrayBuffers },
  ];
  const slopes = rows.map((x) => ({ ...x, slope: slope(series(x.pts, x.f)) }));
  const liveSlope = slopes[2]!.slope;
  const limit = r.limitMbPerHour * MiB;
  const g = growth(r);
  const judged = g ? g.otherPerHour : liveSlope.perHour;
  const verdict = Number.isFinite(judged) && judged <= limit ? "PASS" : "FAIL";

  const c = r.counters;
  const errors = c.total(c.errors);
  const hours = r.minutes / 60;
  const actions = [
    "send",
    "toDevice",
    "typing",
    "join",
    "leave",
    "createRoom",
    "upload",
    "download",
  ] as const;
  const actionsPerHour = actions.reduce((a, k) => a + (c.ok.get(k) ?? 0), 0) / hours;

  // Memory over time: a row every fifth of the run (5 minutes in a 30-minute run).
  const step = r.minutes >= 30 ? 5 : r.minutes / 5;
  const at = (min: number) => lastOf(r.samples, (s) => s.h * 60 <= min + 1e-9) ?? r.samples[0];
  const liveAt = (min: number) => lastOf(r.samples, (s) => s.gc && s.h * 60 <= min + 1e-9);
  const sends = c.latencies.get("send") ?? [];
  const table: string[] = [];
  for (let k = 0; k <= Math.round(r.minutes / step); k++) {
    const min = k * step;
    const s = at(min);
    if (!s) continue;
    const lv = liveAt(min);
    const from = r.runStartMs + (min - step) * 60_000;
    const to = r.runStartMs + min * 60_000;
    const inWindow = sends
      .filter((x) => x.at > from && x.at <= to)
      .map((x) => x.ms)
      .sort((a, b) => a - b);
    const prev = k > 0 ? at(min - step) : undefined;
    const cores = prev && s.h > prev.h ? ((s.cpu - prev.cpu) / ((s.h - prev.h) * 3600)).toFixed(2) : "—";
    const lat = inWindow.length
      ? `${percentile(inWindow, 50).toFixed(0)} / ${percentile(inWindow, 99).toFixed(0)} ms`
      : "—";
    table.push(
      `| ${min.toFixed(step < 1 ? 2 : 0)}${min === r.warmupMinutes ? " (warm-up end)" : ""} | ${mb(s.rss)} | ${mb(s.heapUsed)} | ${lv ? mb(lv.heapUsed) : "—"} | ${lv ? mb(lv.external + lv.arrayBuffers) : "—"} | ${lat} | ${cores} | ${s.load1.toFixed(1)} |`,
    );
  }

  const slopeRows = slopes.map(({ name, pts, f, slope: s }) => {
    const first = pts[0];
    const last = pts.at(-1);
    const ratio = first && last ? `${(f(last) / f(first)).toFixed(2)}` : "n/a";
    return `| ${name} | ${first ? mb(f(first)) : "n/a"} | ${last ? mb(f(last)) : "n/a"} | ${ratio} | ${rate(s)} | ${ci(s)} | ${s.n} |`;
  });

  const requestRows = KINDS.filter(([k]) => c.ok.has(k) || c.errors.has(k) || r.skipped.has(k)).map(
    ([k, label]) => {
      const lat = (c.latencies.get(k) ?? []).map((x) => x.ms).sort((a, b) => a - b);
      const p = lat.length ? `${percentile(lat, 50).toFixed(0)} / ${percentile(lat, 99).toFixed(0)} ms` : "—";
      const kind = k === "longPoll" ? `${p} (held up to 30 s)` : p;
      return `| ${label} | ${c.ok.get(k) ?? 0} | ${c.errors.get(k) ?? 0} | ${r.skipped.get(k) ?? 0} | ${k === "wsDelta" || k === "wsReconnect" ? "—" : kind} |`;
    },
  );

  const perRequest = actionsPerHour > 0 ? (limit / actionsPerHour).toFixed(0) : "n/a";
  const md = `## Soak: ${r.minutes} minutes of mixed load (bench/soak.ts, issue #16)${r.smoke ? " — SHORT RUN (smoke parameters, not a measurement)" : ""}

Server started as \`npm start\` runs it (plus \`--inspect\` on loopback, through which the heap is read and full collections forced), on ${r.backend}. ${r.users} users, one device each: half keep an HTTP \`/sync\` long-poll open (\`timeout=30000\`), half a WebSocket sync subscription (docs/sync-protocol.md) through sync/client, over which they also send, type and send to-device. ${r.rooms} public rooms × ${r.members} members to start with; at a fixed rate (not saturation): ${r.rates.sends} room messages/s, ${r.rates.toDevice} to-device messages/s, ${r.rates.typing} typing notifications/s, ${r.rates.joins} joins or leaves/s, a new room every ${r.rates.createEvery} s (${r.roomsAtEnd} rooms at the end), a 4–12 KiB media upload and its download every ${r.rates.uploadEvery} s. Memory sampled every ${r.sampleSeconds} s, and every ${r.gcSeconds} s right after a forced full GC. Warm-up: the first ${minutes(r.warmupMinutes)} min. Heap snapshots (each pauses the server for a few seconds) at the warm-up's end and at the end${r.snapshots ? `, kept in ${r.snapshots}` : ""}. Load average (1/5/15 min) at the start ${loads(r.loadStart)}, at the end ${loads(r.loadEnd)}, on ${r.samples.length ? "" : "(no samples) "}a machine shared with other work.

### Memory over time (MiB)

| minute | RSS | V8 heap used | live heap (after forced GC) | external + array buffers (after GC) | send p50 / p99 in the interval | server cores used in the interval | load (1 min) |
|---|---|---|---|---|---|---|---|
${table.join("\n")}

### Growth after the warm-up (least squares over the samples from minute ${minutes(from * 60)} on, once the snapshot after the warm-up is taken)

| series | at warm-up end (MiB) | at the end (MiB) | end / warm-up end | slope | 95% CI | samples |
|---|---|---|---|---|---|---|
${slopeRows.join("\n")}

${cacheLine(r)}

${
  g
    ? `### Where the heap grew (heap snapshots after the warm-up and at the end, ${(g.hours * 60).toFixed(1)} min apart)

| held by | after warm-up (MiB) | at the end (MiB) | growth (MiB) | bound / growth rate |
|---|---|---|---|---|
${g.rows.join("\n")}

Each cache's row is the memory reachable from it (its entries' objects and strings; shared code and shapes not counted). These caches are bounded (last column); at this load the transaction ids would take some 3.5 h to reach their cap and the timelines 5,000 rooms, so they grow steadily through a half-hour run without leaking. The verdict judges everything else.`
    : "No heap snapshots: the run ended before the warm-up did."
}

The reference ("ceiling") each series is compared with is the same process's memory right after the warm-up, under the same load: a server that does not leak stays near it for the rest of the run, whatever its absolute size.

### Requests (every one must succeed)

| kind | ok | errors | ticks skipped (> ${64} in flight) | p50 / p99 |
|---|---|---|---|---|
${requestRows.join("\n")}

Errors: ${errors}.${c.firstErrors.length ? `\n\n${c.firstErrors.map((e) => `- \`${e.replaceAll("`", "'")}\``).join("\n")}` : ""}

### Verdict: ${r.smoke ? `${verdict} (short run: not a verdict)` : verdict}

${g ? `Heap outside the bounded caches grew ${(g.otherPerHour / MiB).toFixed(1)} MiB/h` : `Live heap slope after the warm-up ${rate(liveSlope)} (${ci(liveSlope)} MiB/h at 95%)`} against a limit of ${r.limitMbPerHour} MiB/h (the live heap as a whole: ${rate(liveSlope)}, ${ci(liveSlope)} MiB/h at 95%). The judged heap is the heap after a full collection (forced, or the snapshot's own), the only reading from which garbage is gone: the raw heap saws with the collector's schedule and RSS follows the allocator, which keeps its high-water mark (and, on embedded PGlite, the database's WebAssembly memory, which lives in this process and never shrinks, grows with the database) — both are reported, neither judged alone. The limit: 10 MiB/h is 240 MiB a day, a server restarted weekly would hold 1.6 GiB more at the end, the order at which a leak becomes an operator's problem; at this run's ${actionsPerHour.toFixed(0)} requests/h (syncs not counted) it is ${perRequest} bytes kept per request, so a leak of one small object per send is caught; anything much smaller is below what a ${minutes(r.minutes - r.warmupMinutes)}-minute window on a shared machine can tell from noise (see the CI).`;
  return { markdown: md, errors, verdict };
}
