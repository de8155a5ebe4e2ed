/**
 * Load-generator process for bench/ws-fanout.ts (spawned with IPC; one per source address
 * 127.0.0.x). Holds its share of the sockets — Nova sockets through the client library
 * (sync/client), or raw sockets to the bare relay — and runs the phases the orchestrator asks
 * for, reporting counters and latencies back. Loops are bounded by the phase's duration.
 */
import WebSocket from "ws";
import { NovaSyncClient, type SyncBody, type WebSocketConstructor } from "../sync/client/index.ts";

export type SocketSpec = { url: string; token?: string; since?: string; rooms: string[] };
export type WorkerCommand =
  | {
      cmd: "connect";
      mode: "nova" | "relay";
      localAddress: string;
      sockets: SocketSpec[];
      concurrency: number;
    }
  | {
      cmd: "run";
      phase: string;
      seconds: number;
      window: number;
      ratePerSecond: number | null;
      drainMs: number;
    }
  | { cmd: "close" };
export type WorkerReport =
  | { kind: "connected"; sockets: number; failed: number; ms: number }
  | {
      kind: "ran";
      phase: string;
      sent: number;
      acked: number;
      errors: number;
      delivered: number;
      deliveredInWindow: number;
      latencies: number[];
      seconds: number;
    }
  | { kind: "closed" }
  | { kind: "progress"; text: string };

const now = () => performance.timeOrigin + performance.now();

type Session = {
  rooms: string[];
  send(room: string, id: number, payload: { ts: number; ph: string }): Promise<void>;
  close(): void;
};

let sessions: Session[] = [];
let phase = "";
let phaseStart = 0;
let phaseEnd = Number.POSITIVE_INFINITY;
let delivered = 0;
let deliveredInWindow = 0;
let latencies: number[] = [];

function onDelivery(ph: unknown, ts: unknown): void {
  if (ph !== phase || typeof ts !== "number") return;
  const t = now();
  delivered++;
  if (t <= phaseEnd) deliveredInWindow++;
  latencies.push(t - ts / 1000);
}

function send(msg: WorkerReport): void {
  process.send?.(msg);
}

async function connectNova(spec: SocketSpec, Ctor: WebSocketConstructor): Promise<Session> {
  const client = new NovaSyncClient({
    baseUrl: spec.url,
    accessToken: spec.token!,
    since: spec.since ?? null,
    // Deliveries are counted from the timeline: no truncation under coalescing.
    filter: {
      room: { timeline: { limit: 1000 }, state: { lazy_load_members: true } },
      presence: { not_types: ["*"] },
    },
    WebSocket: Ctor,
    requestTimeoutMs: 60_000,
  });
  let first: () => void = () => {};
  const gotFirst = new Promise<void>((r) => {
    first = r;
  });
  client.onSync((body: SyncBody) => {
    first();
    const join = (
      body.rooms as {
        join?: Record<
          string,
          { timeline?: { events?: { content?: { bench?: { ts?: unknown; ph?: unknown } } }[] } }
        >;
      }
    )?.join;
    if (!join) return;
    for (const room of Object.values(join)) {
      for (const e of room.timeline?.events ?? []) {
        const b = e.content?.bench;
        if (b) onDelivery(b.ph, b.ts);
      }
    }
  });
  await client.start();
  await gotFirst;
  return {
    rooms: spec.rooms,
    async send(room, id, payload) {
      await client.sendEvent(
        room,
        "m.room.message",
        { msgtype: "m.text", body: `b${id}`, bench: payload },
        `t${id}`,
      );
    },
    close: () => client.close(),
  };
}

async function connectRelay(spec: SocketSpec, localAddress: string): Promise<Session> {
  const ws = new WebSocket(spec.url, { localAddress });
  const acks = new Map<string, () => void>();
  await new Promise<void>((resolve, reject) => {
    ws.once("open", () => resolve());
    ws.once("error", reject);
  });
  const subscribed = new Promise<void>((resolve) => {
    ws.on("message", (data) => {
      const text = String(data);
      if (text === "subscribed") {
        resolve();
        return;
      }
      if (text.startsWith("ack|")) {
        const id = text.slice(4);
        acks.get(id)?.();
        acks.delete(id);
        return;
      }
      const second = text.indexOf("|", text.indexOf("|") + 1);
      const p = JSON.parse(text.slice(second + 1)) as { ts: number; ph: string };
      onDelivery(p.ph, p.ts);
    });
  });
  ws.send(`sub|${spec.rooms.join(",")}`);
  await subscribed;
  return {
    rooms: spec.rooms,
    send(room, id, payload) {
      return new Promise((resolve) => {
        acks.set(String(id), resolve);
        // Same payload shape as the Nova event content.
        ws.send(`${room}|${id}|${JSON.stringify({ msgtype: "m.text", body: `b${id}`, ...payload })}`);
      });
    },
    close: () => ws.close(),
  };
}

async function connectAll(c: Extract<WorkerCommand, { cmd: "connect" }>): Promise<void> {
  const started = Date.now();
  // Bind every socket of this process to its own loopback source address.
  class BoundWebSocket extends WebSocket {
    constructor(url: string, protocols?: string[]) {
      super(url, protocols, { localAddress: c.localAddress, perMessageDeflate: false });
    }
  }
  const Ctor = BoundWebSocket as unknown as WebSocketConstructor;
  let failed = 0;
  let next = 0;
  const out: Session[] = [];
  const lane = async () => {
    while (next < c.sockets.length) {
      const spec = c.sockets[next++]!;
      try {
        out.push(
          c.mode === "nova" ? await connectNova(spec, Ctor) : await connectRelay(spec, c.localAddress),
        );
      } catch {
        failed++;
      }
      if (out.length % 2000 === 0)
        send({ kind: "progress", text: `${c.localAddress}: ${out.length} sockets` });
    }
  };
  await Promise.all(Array.from({ length: c.concurrency }, lane));
  // A worker may be asked to connect more sockets later (the idle phase connects in two halves).
  sessions = sessions.concat(out);
  send({ kind: "connected", sockets: out.length, failed, ms: Date.now() - started });
}

async function run(c: Extract<WorkerCommand, { cmd: "run" }>): Promise<void> {
  phase = c.phase;
  delivered = 0;
  deliveredInWindow = 0;
  latencies = [];
  phaseStart = now();
  phaseEnd = phaseStart + c.seconds * 1000;
  let sent = 0;
  let acked = 0;
  let errors = 0;
  let id = Math.floor(Math.random() * 1e9);
  let cursor = 0;
  const sendOne = async () => {
    const s = sessions[cursor++ % sessions.length]!;
    const room = s.rooms[Math.floor(Math.random() * s.rooms.length)]!;
    sent++;
    try {
      // Integer microseconds: canonical JSON allows no floats in events.
      await s.send(room, id++, { ts: Math.round(now() * 1000), ph: phase });
      if (now() <= phaseEnd) acked++;
    } catch (err) {
      if (errors++ === 0) send({ kind: "progress", text: `first send error: ${String(err)}` });
    }
  };
  if (sessions.length > 0) {
    if (c.ratePerSecond === null) {
      // Saturation: `window` sends in flight at all times until the phase ends.
      const lane = async () => {
        while (now() < phaseEnd) await sendOne();
      };
      await Promise.all(Array.from({ length: c.window }, lane));
    } else {
      // Open loop at a fixed rate: sends due by the clock go out, whatever the replies do.
      const inFlight = new Set<Promise<void>>();
      let issued = 0;
      while (now() < phaseEnd) {
        const due = Math.floor(((now() - phaseStart) / 1000) * c.ratePerSecond);
        while (issued < due) {
          issued++;
          const p = sendOne();
          inFlight.add(p);
          void p.finally(() => inFlight.delete(p));
        }
        await new Promise((r) => setTimeout(r, 2));
      }
      await Promise.all(inFlight);
    }
  }
  await new Promise((r) => setTimeout(r, c.drainMs));
  send({
    kind: "ran",
    phase: c.phase,
    sent,
    acked,
    errors,
    delivered,
    deliveredInWindow,
    latencies,
    seconds: c.seconds,
  });
}

process.on("message", (m: WorkerCommand) => {
  if (m.cmd === "connect") void connectAll(m);
  else if (m.cmd === "run") void run(m);
  else {
    for (const s of sessions) s.close();
    sessions = [];
    send({ kind: "closed" });
    setTimeout(() => process.exit(0), 200);
  }
});
