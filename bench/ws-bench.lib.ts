/**
 * Helpers of bench/ws-fanout.ts that need nothing of its configuration: the client API calls it
 * sets up with, process memory and CPU readings, and the server's garbage collection through the
 * inspector.
 */
import { readdirSync, readFileSync } from "node:fs";
import WebSocket from "ws";
import type { ServerProcess } from "../test/helpers/process.ts";
import { pool } from "./pool.lib.ts";

const V3 = "/_matrix/client/v3";
const log = (s: string) => console.log(`[ws] ${s}`);

export async function api(
  base: string,
  method: string,
  p: string,
  token?: string,
  body?: unknown,
): Promise<Record<string, unknown>> {
  for (let attempt = 0; ; attempt++) {
    const res = await fetch(base + p, {
      method,
      headers: { ...(token ? { Authorization: `Bearer ${token}` } : {}), "Content-Type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const json = (await res.json()) as Record<string, unknown>;
    if (res.status === 429 && attempt < 20) {
      await new Promise((r) => setTimeout(r, Number(json.retry_after_ms ?? 200)));
      continue;
    }
    if (res.status !== 200) throw new Error(`${method} ${p}: ${res.status} ${JSON.stringify(json)}`);
    return json;
  }
}

export type Account = { userId: string; accessToken: string };
export async function registerMany(base: string, prefix: string, n: number): Promise<Account[]> {
  const out: Account[] = new Array(n);
  const t = Date.now();
  await pool([...Array(n).keys()], 4, async (i) => {
    const r = await api(base, "POST", `${V3}/register`, undefined, {
      username: `${prefix}${i}`,
      password: "bench password",
      auth: { type: "m.login.dummy" },
    });
    out[i] = { userId: r.user_id as string, accessToken: r.access_token as string };
    if ((i + 1) % 200 === 0) log(`registered ${i + 1}/${n}`);
  });
  log(`registered ${n} users in ${((Date.now() - t) / 1000).toFixed(1)} s`);
  return out;
}

export function rssBytes(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return m ? Number(m[1]) * 1024 : Number.NaN;
}

/** A metric of the server, from its admin listener. */
export async function metric(s: ServerProcess, name: string): Promise<number> {
  if (!s.adminUrl) throw new Error("the server has no admin listener (NOVA_ADMIN_PORT)");
  const text = await fetch(`${s.adminUrl}/metrics`).then((r) => r.text());
  const line = text.split("\n").find((l) => l.startsWith(`${name} `) || l.startsWith(`${name}{`));
  return line ? Number(line.split(" ").pop()) : Number.NaN;
}

/**
 * A full garbage collection in a server started with `--inspect` (through the DevTools protocol),
 * so memory readings hold what is live, not whatever garbage the young generation held when
 * allocation stopped.
 */
export async function collectGarbage(server: ServerProcess): Promise<void> {
  const url = /Debugger listening on (ws:\/\/\S+)/.exec(server.output.join("\n"))?.[1];
  if (!url) throw new Error("server was not started with --inspect");
  const ws = new WebSocket(url);
  await new Promise<void>((resolve, reject) => {
    ws.once("error", reject);
    ws.once("open", () => ws.send(JSON.stringify({ id: 1, method: "HeapProfiler.collectGarbage" })));
    ws.on("message", (data) => {
      if ((JSON.parse(data.toString()) as { id?: number }).id === 1) resolve();
    });
  });
  ws.close();
}

/** Node flags for benchmark servers whose memory is read (see collectGarbage). */
export const INSPECTABLE = { nodeArgs: ["--inspect=127.0.0.1:0"] };

/**
 * Lowest RSS and used heap over `samples` readings 2 s apart, each right after a full garbage
 * collection.
 */
export async function settledMemory(
  servers: ServerProcess[],
  samples: number,
): Promise<{ rss: number; heap: number }[]> {
  const low = servers.map(() => ({ rss: Number.POSITIVE_INFINITY, heap: Number.POSITIVE_INFINITY }));
  for (let k = 0; k < samples; k++) {
    await new Promise((r) => setTimeout(r, 2_000));
    for (const [i, s] of servers.entries()) {
      await collectGarbage(s);
      low[i]!.rss = Math.min(low[i]!.rss, rssBytes(s.child.pid!));
      low[i]!.heap = Math.min(low[i]!.heap, await metric(s, "nodejs_heap_size_used_bytes"));
    }
  }
  return low;
}

/** CPU seconds (user + system) a process has used, from /proc (0 once it is gone). */
export function cpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(f[11]) + Number(f[12])) / 100; // utime, stime in clock ticks (USER_HZ = 100)
  } catch {
    return 0;
  }
}

/** Processes by command name: PostgreSQL's (the server and its backends), Redis's. */
export function pidsNamed(prefix: string): number[] {
  const out: number[] = [];
  for (const d of readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    try {
      if (readFileSync(`/proc/${d}/comm`, "utf8").trim().startsWith(prefix)) out.push(Number(d));
    } catch {
      // exited meanwhile
    }
  }
  return out;
}

/**
 * Cores used during a phase by the server processes (together, and each), PostgreSQL, Redis
 * (the replicas' fan-out goes through it) and the load generators.
 */
export type CpuUse = {
  server: number;
  perServer: number[];
  postgres: number;
  redis: number;
  generators: number;
};

export function cpuSnapshot(serverPids: number[], ws: readonly { pid: number }[]) {
  const named = (prefix: string) => new Map(pidsNamed(prefix).map((p) => [p, cpuSeconds(p)]));
  return {
    t: performance.now(),
    servers: serverPids.map(cpuSeconds),
    postgres: named("postgres"),
    redis: named("redis-server"),
    generators: ws.reduce((a, w) => a + cpuSeconds(w.pid), 0),
  };
}

export function cpuSince(
  before: ReturnType<typeof cpuSnapshot>,
  serverPids: number[],
  ws: readonly { pid: number }[],
): CpuUse {
  const after = cpuSnapshot(serverPids, ws);
  const secs = (after.t - before.t) / 1000;
  // A backend that exits during the phase is missed (a lower bound); one that starts counts whole.
  const grown = (a: Map<number, number>, b: Map<number, number>) => {
    let sum = 0;
    for (const [pid, cpu] of a) sum += cpu - (b.get(pid) ?? 0);
    return sum / secs;
  };
  const perServer = after.servers.map((c, i) => (c - before.servers[i]!) / secs);
  return {
    server: perServer.reduce((a, c) => a + c, 0),
    perServer,
    postgres: grown(after.postgres, before.postgres),
    redis: grown(after.redis, before.redis),
    generators: (after.generators - before.generators) / secs,
  };
}
