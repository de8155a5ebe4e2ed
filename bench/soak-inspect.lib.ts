/**
 * bench/soak.ts's view of the server's memory: RSS from /proc (works whatever listener /metrics
 * moves to), V8 heap and external memory through the inspector of a server started with
 * `--inspect`, full collections forced the same way, and the least-squares slope of a series.
 */
import { createWriteStream, readFileSync } from "node:fs";
import WebSocket from "ws";

export function rssBytes(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return m ? Number(m[1]) * 1024 : Number.NaN;
}

/** CPU seconds (user + system) the process has used, from /proc/<pid>/stat (USER_HZ = 100). */
export function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(f[11]) + Number(f[12])) / 100;
}

export type HeapReading = { heapUsed: number; heapTotal: number; external: number; arrayBuffers: number };

/** One DevTools-protocol session with the server's inspector, kept open for the whole run. */
export class Inspector {
  private nextId = 1;
  private readonly waiting = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  private chunkSink: ((chunk: string) => void) | null = null;

  private constructor(private readonly ws: WebSocket) {
    ws.on("message", (data) => {
      const m = JSON.parse(String(data)) as {
        id?: number;
        result?: unknown;
        error?: { message: string };
        method?: string;
        params?: { chunk?: string };
      };
      if (m.method === "HeapProfiler.addHeapSnapshotChunk") {
        this.chunkSink?.(m.params?.chunk ?? "");
        return;
      }
      if (m.id === undefined) return;
      const w = this.waiting.get(m.id);
      this.waiting.delete(m.id);
      if (m.error) w?.reject(new Error(m.error.message));
      else w?.resolve(m.result);
    });
    ws.on("close", () => {
      for (const w of this.waiting.values()) w.reject(new Error("inspector closed"));
      this.waiting.clear();
    });
  }

  /** Connects to the inspector a server printed ("Debugger listening on ws://…") in its output. */
  static async attach(output: string[]): Promise<Inspector> {
    const url = /Debugger listening on (ws:\/\/\S+)/.exec(output.join("\n"))?.[1];
    if (!url) throw new Error("server was not started with --inspect");
    const ws = new WebSocket(url);
    await new Promise<void>((resolve, reject) => {
      ws.once("open", () => resolve());
      ws.once("error", reject);
    });
    return new Inspector(ws);
  }

  call<T>(method: string, params: Record<string, unknown> = {}): Promise<T> {
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.waiting.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.ws.send(JSON.stringify({ id, method, params }));
    });
  }

  /** The server's own `process.memoryUsage()` (the heap parts; RSS comes from /proc). */
  async memory(): Promise<HeapReading> {
    const r = await this.call<{ result: { value: string } }>("Runtime.evaluate", {
      expression: "JSON.stringify(process.memoryUsage())",
      returnByValue: true,
    });
    const m = JSON.parse(r.result.value) as HeapReading;
    return {
      heapUsed: m.heapUsed,
      heapTotal: m.heapTotal,
      external: m.external,
      arrayBuffers: m.arrayBuffers,
    };
  }

  /** A full, compacting collection: what the heap holds afterwards is live. */
  async collectGarbage(): Promise<void> {
    await this.call("HeapProfiler.collectGarbage");
  }

  /** Writes a heap snapshot (Chrome DevTools format) to `file`, for diffing two points of a run. */
  async heapSnapshot(file: string): Promise<void> {
    const out = createWriteStream(file);
    this.chunkSink = (c) => out.write(c);
    try {
      await this.call("HeapProfiler.takeHeapSnapshot", { reportProgress: false });
    } finally {
      this.chunkSink = null;
      await new Promise<void>((r) => out.end(r));
    }
  }

  close(): void {
    this.ws.close();
  }
}

/**
 * Entries of the server's in-process caches (`nova_cache_entries` on its admin listener's
 * /metrics): bounded caches fill at a steady rate for a while, which looks like a leak over half
 * an hour. Null when the server has no admin listener.
 */
export async function cacheEntries(adminUrl: string | null): Promise<Record<string, number> | null> {
  if (!adminUrl) return null;
  try {
    const res = await fetch(`${adminUrl}/metrics`);
    if (res.status !== 200) return null;
    const out: Record<string, number> = {};
    for (const m of (await res.text()).matchAll(/^nova_cache_entries\{cache="([^"]+)"\} (\S+)$/gm))
      out[m[1]!] = Number(m[2]);
    return out;
  } catch {
    return null;
  }
}

export type Slope = { perHour: number; ci95: number; n: number };

/** Least-squares slope of (hours, value) with its 95% confidence half-width (normal approximation). */
export function slope(points: { h: number; v: number }[]): Slope {
  const n = points.length;
  if (n < 3) return { perHour: Number.NaN, ci95: Number.NaN, n };
  const mh = points.reduce((a, p) => a + p.h, 0) / n;
  const mv = points.reduce((a, p) => a + p.v, 0) / n;
  let sxx = 0;
  let sxy = 0;
  for (const p of points) {
    sxx += (p.h - mh) ** 2;
    sxy += (p.h - mh) * (p.v - mv);
  }
  const b = sxy / sxx;
  const a = mv - b * mh;
  const sse = points.reduce((acc, p) => acc + (p.v - (a + b * p.h)) ** 2, 0);
  const se = Math.sqrt(sse / (n - 2) / sxx);
  return { perHour: b, ci95: 1.96 * se, n };
}
