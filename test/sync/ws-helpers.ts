import WebSocket from "ws";
import { NovaSyncClient, type NovaSyncClientOptions, type SyncBody } from "../../sync/client/index.ts";
import { SUBPROTOCOL, WS_PATH } from "../../sync/ws/protocol.ts";

/** A raw socket to the endpoint, collecting frames and the close, for protocol-level assertions. */
export async function rawSocket(
  baseUrl: string,
  protocols: string[] = [SUBPROTOCOL],
): Promise<{
  ws: WebSocket;
  frames: Record<string, unknown>[];
  closed: Promise<{ code: number; reason: string }>;
  next(pred?: (f: Record<string, unknown>) => boolean, timeoutMs?: number): Promise<Record<string, unknown>>;
  send(frame: unknown): void;
}> {
  const ws = new WebSocket(baseUrl.replace(/^http/, "ws") + WS_PATH, protocols);
  const frames: Record<string, unknown>[] = [];
  const waiters: {
    pred: (f: Record<string, unknown>) => boolean;
    resolve: (f: Record<string, unknown>) => void;
  }[] = [];
  let seen = 0;
  ws.on("message", (data) => {
    const f = JSON.parse(String(data)) as Record<string, unknown>;
    frames.push(f);
    for (const w of [...waiters]) {
      if (w.pred(f)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(f);
      }
    }
  });
  const closed = new Promise<{ code: number; reason: string }>((resolve) =>
    ws.on("close", (code, reason) => resolve({ code, reason: String(reason) })),
  );
  await new Promise<void>((resolve, reject) => {
    ws.once("open", () => resolve());
    ws.once("error", reject);
  });
  return {
    ws,
    frames,
    closed,
    send: (frame) => ws.send(typeof frame === "string" ? frame : JSON.stringify(frame)),
    next(pred = () => true, timeoutMs = 10_000) {
      // Frames already received and not yet consumed by an earlier next() count first.
      for (; seen < frames.length; seen++) {
        const f = frames[seen]!;
        if (pred(f)) {
          seen++;
          return Promise.resolve(f);
        }
      }
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no matching frame in ${timeoutMs} ms`)), timeoutMs);
        waiters.push({
          pred,
          resolve: (f) => {
            clearTimeout(timer);
            seen = frames.length;
            resolve(f);
          },
        });
      });
    },
  };
}

/** A client-library session that records every delta it processed. */
export async function syncClient(opts: NovaSyncClientOptions): Promise<{
  client: NovaSyncClient;
  deltas: SyncBody[];
  waitFor(pred: (b: SyncBody) => boolean, timeoutMs?: number): Promise<SyncBody>;
}> {
  const client = new NovaSyncClient({ minBackoffMs: 50, maxBackoffMs: 500, ...opts });
  const deltas: SyncBody[] = [];
  const waiters: { pred: (b: SyncBody) => boolean; resolve: (b: SyncBody) => void }[] = [];
  client.onSync((b) => {
    deltas.push(b);
    for (const w of [...waiters]) {
      if (w.pred(b)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(b);
      }
    }
  });
  await client.start();
  return {
    client,
    deltas,
    waitFor(pred, timeoutMs = 10_000) {
      const hit = deltas.find(pred);
      if (hit) return Promise.resolve(hit);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no matching delta in ${timeoutMs} ms`)), timeoutMs);
        waiters.push({
          pred,
          resolve: (b) => {
            clearTimeout(timer);
            resolve(b);
          },
        });
      });
    },
  };
}

/** Timeline events of a room across deltas. */
export function timeline(deltas: SyncBody[], roomId: string): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  for (const d of deltas) {
    const rooms = d.rooms as
      | { join?: Record<string, { timeline?: { events?: Record<string, unknown>[] } }> }
      | undefined;
    out.push(...(rooms?.join?.[roomId]?.timeline?.events ?? []));
  }
  return out;
}
