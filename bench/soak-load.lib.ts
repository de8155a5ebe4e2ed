/**
 * The clients of bench/soak.ts: users who keep a sync open (half as HTTP long-polls, half over
 * WebSocket through sync/client), and the requests the mix is made of. Every request is counted
 * per kind with its latency; anything but a 2xx is an error and keeps its first message.
 */
import { randomBytes } from "node:crypto";
import WebSocket from "ws";
import { NovaSyncClient, type WebSocketConstructor } from "../sync/client/index.ts";

const V3 = "/_matrix/client/v3";

export type Kind =
  | "register"
  | "createRoom"
  | "join"
  | "leave"
  | "send"
  | "toDevice"
  | "typing"
  | "upload"
  | "download"
  | "longPoll"
  | "wsDelta"
  | "wsReconnect";

export class Counters {
  readonly ok = new Map<Kind, number>();
  readonly errors = new Map<Kind, number>();
  readonly firstErrors: string[] = [];
  /** Latencies per kind, each with the `performance.now()` it finished at. */
  readonly latencies = new Map<Kind, { at: number; ms: number }[]>();

  success(kind: Kind, ms?: number): void {
    this.ok.set(kind, (this.ok.get(kind) ?? 0) + 1);
    if (ms === undefined) return;
    const l = this.latencies.get(kind) ?? [];
    if (l.length === 0) this.latencies.set(kind, l);
    l.push({ at: performance.now(), ms });
  }
  failure(kind: Kind, message: string): void {
    this.errors.set(kind, (this.errors.get(kind) ?? 0) + 1);
    if (this.firstErrors.length < 10) this.firstErrors.push(`${kind}: ${message}`);
  }
  total(m: Map<Kind, number>): number {
    let n = 0;
    for (const v of m.values()) n += v;
    return n;
  }
}

export type User = {
  i: number;
  userId: string;
  deviceId: string;
  token: string;
  /** Set for the users whose sync is a socket; sends, to-device and typing then go over it. */
  ws: NovaSyncClient | null;
};

export class Client {
  constructor(
    readonly base: string,
    readonly counters: Counters,
  ) {}

  /** One counted request; resolves with the JSON body of a 2xx, null otherwise (counted as an error). */
  async http(
    kind: Kind,
    method: string,
    path: string,
    token: string | null,
    body?: unknown,
    opts: { raw?: Buffer; contentType?: string; signal?: AbortSignal } = {},
  ): Promise<Record<string, unknown> | null> {
    const t = performance.now();
    try {
      const res = await fetch(this.base + path, {
        method,
        headers: {
          ...(token ? { Authorization: `Bearer ${token}` } : {}),
          "Content-Type": opts.contentType ?? "application/json",
        },
        body: opts.raw ? new Uint8Array(opts.raw) : body === undefined ? undefined : JSON.stringify(body),
        signal: opts.signal,
      });
      const text = await res.text();
      if (res.status < 200 || res.status > 299) {
        this.counters.failure(kind, `${method} ${path.split("?")[0]} → ${res.status} ${text.slice(0, 200)}`);
        return null;
      }
      this.counters.success(kind, performance.now() - t);
      return (text && res.headers.get("content-type")?.includes("json") ? JSON.parse(text) : {}) as Record<
        string,
        unknown
      >;
    } catch (err) {
      if (opts.signal?.aborted) return null;
      this.counters.failure(kind, `${method} ${path.split("?")[0]}: ${(err as Error).message}`);
      return null;
    }
  }

  /** A request over a user's socket, counted like an HTTP one. */
  async overSocket(kind: Kind, run: () => Promise<unknown>): Promise<boolean> {
    const t = performance.now();
    try {
      await run();
      this.counters.success(kind, performance.now() - t);
      return true;
    } catch (err) {
      this.counters.failure(kind, (err as Error).message);
      return false;
    }
  }

  async register(name: string): Promise<User> {
    const r = await this.http("register", "POST", `${V3}/register`, null, {
      username: name,
      password: "soak password",
      auth: { type: "m.login.dummy" },
    });
    if (!r) throw new Error(`registering ${name} failed: ${this.counters.firstErrors.at(-1)}`);
    return {
      i: 0,
      userId: r.user_id as string,
      deviceId: r.device_id as string,
      token: r.access_token as string,
      ws: null,
    };
  }
}

/** What a syncing client asks for: a short timeline, members lazily, no presence. */
export const SYNC_FILTER = {
  room: { timeline: { limit: 20 }, state: { lazy_load_members: true } },
  presence: { not_types: ["*"] },
};

/**
 * A user's HTTP long-poll loop (`timeout=30000`) until `signal` aborts; each response counted.
 * Long-polls resume from the previous `next_batch`, which also acknowledges to-device messages.
 */
export async function longPollLoop(c: Client, u: User, signal: AbortSignal): Promise<void> {
  const filter = encodeURIComponent(JSON.stringify(SYNC_FILTER));
  let since: string | null = null;
  while (!signal.aborted) {
    const q = since ? `since=${encodeURIComponent(since)}&timeout=30000` : "timeout=0";
    // One controller per request: fetch keeps its listener on the signal it is given for as long
    // as that signal lives, and the run's signal lives for the whole run.
    const one = new AbortController();
    const stop = () => one.abort();
    signal.addEventListener("abort", stop, { once: true });
    const r = await c
      .http("longPoll", "GET", `${V3}/sync?${q}&filter=${filter}`, u.token, undefined, { signal: one.signal })
      .finally(() => signal.removeEventListener("abort", stop));
    if (r) since = r.next_batch as string;
    else if (!signal.aborted) await new Promise((res) => setTimeout(res, 1_000));
  }
}

/** Connects a user's sync socket; every delta counts, and so does every reconnect (an error). */
export async function connectSocket(c: Client, u: User): Promise<void> {
  const client = new NovaSyncClient({
    baseUrl: c.base,
    accessToken: u.token,
    filter: SYNC_FILTER,
    WebSocket: WebSocket as unknown as WebSocketConstructor,
    requestTimeoutMs: 60_000,
  });
  client.onSync(() => {
    c.counters.success("wsDelta");
  });
  client.onClose((info) => {
    if (info.willReconnect) c.counters.failure("wsReconnect", `socket closed ${info.code} ${info.reason}`);
  });
  await client.start();
  u.ws = client;
}

export const randomTxn = () => randomBytes(8).toString("hex");

/** A small binary upload, then its download through the authenticated media API. */
export async function uploadAndDownload(c: Client, u: User, bytes: number): Promise<void> {
  const up = await c.http(
    "upload",
    "POST",
    "/_matrix/media/v3/upload?filename=soak.bin",
    u.token,
    undefined,
    {
      raw: randomBytes(bytes),
      contentType: "application/octet-stream",
    },
  );
  const mxc = up?.content_uri as string | undefined;
  if (!mxc) return;
  const [server, id] = mxc.slice("mxc://".length).split("/");
  await c.http("download", "GET", `/_matrix/client/v1/media/download/${server}/${id}`, u.token);
}
