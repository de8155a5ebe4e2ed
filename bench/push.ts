/**
 * Issue #12's push benchmark, against the server as `npm start` runs it (its own process, the
 * embedded database or DATABASE_URL, notifications in-process), with a push gateway in this
 * process (a bare uWebSockets.js server that records when each notify arrives):
 *
 * - latency: room events at a fixed rate (default 200/s), each in a DM of one of the 1,000 users
 *   who each set a pusher; p50/p99 from the send request's start (the commit is inside it) to the
 *   gateway's receipt of the notify;
 * - saturation: the gateway holds every request until a backlog of events has been sent, then
 *   answers; deliveries per second while the backlog drains, beside a raw HTTP POST loop from this
 *   process to the same gateway (the same bodies, the same number in flight) in the same run.
 *
 * Usage: `tsx bench/push.ts [--users 1000] [--rate 200] [--seconds 20] [--backlog 3000]`.
 * Writes the `push` section of bench/REPORT.md.
 */

import uWS from "uWebSockets.js";
import { loadavg } from "node:os";
import { parseArgs } from "node:util";
import { Agent, request } from "undici";
import { freshDatabase, startServerProcess } from "../test/helpers/process.ts";
import { percentile, writeReportSection } from "./report.ts";

const { values } = parseArgs({
  options: {
    users: { type: "string", default: "1000" },
    rate: { type: "string", default: "200" },
    seconds: { type: "string", default: "20" },
    backlog: { type: "string", default: "3000" },
  },
});
const USERS = Number(values.users);
const RATE = Number(values.rate);
const SECONDS = Number(values.seconds);
const BACKLOG = Number(values.backlog);
/** The server's deliveries in flight (NOVA_PUSH_CONCURRENCY), and the ceiling loop's. */
const IN_FLIGHT = 32;

async function pool(n: number, inFlight: number, fn: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      while (next < n) await fn(next++);
    }),
  );
}

/** The gateway: records each notify's arrival by event id; can hold answers back. */
class Gateway {
  readonly arrivals = new Map<string, number>();
  received = 0;
  holding = false;
  lastBody = "";
  private held: (() => void)[] = [];
  private socket: uWS.us_listen_socket | null = null;

  listen(): Promise<number> {
    const app = uWS.App().post("/_matrix/push/v1/notify", (res) => {
      let aborted = false;
      res.onAborted(() => {
        aborted = true;
      });
      const parts: Buffer[] = [];
      res.onData((ab, isLast) => {
        parts.push(Buffer.from(new Uint8Array(ab).slice()));
        if (!isLast) return;
        const now = performance.now();
        const text = Buffer.concat(parts).toString();
        this.lastBody = text;
        const id = (JSON.parse(text) as { notification: { event_id?: string } }).notification.event_id;
        const answer = () => {
          this.received++;
          if (id && !this.arrivals.has(id)) this.arrivals.set(id, now);
          if (!aborted)
            res.cork(() => res.writeHeader("Content-Type", "application/json").end('{"rejected":[]}'));
        };
        if (this.holding) this.held.push(answer);
        else answer();
      });
    });
    return new Promise((resolve) =>
      app.listen("127.0.0.1", 0, (s) => {
        this.socket = s;
        resolve(uWS.us_socket_local_port(s));
      }),
    );
  }

  release(): void {
    this.holding = false;
    for (const a of this.held.splice(0)) a();
  }

  close(): void {
    if (this.socket) uWS.us_listen_socket_close(this.socket);
  }
}

async function main(): Promise<void> {
  const db = await freshDatabase();
  const gateway = new Gateway();
  const gatewayPort = await gateway.listen();
  const gatewayUrl = `http://127.0.0.1:${gatewayPort}/_matrix/push/v1/notify`;
  const server = await startServerProcess({
    ...(db ? { DATABASE_URL: db.url } : {}),
    NOVA_PUSH_CONCURRENCY: String(IN_FLIGHT),
    // The saturation phase holds answers for longer than the default timeout would allow.
    NOVA_PUSH_TIMEOUT_MS: "120000",
    NOVA_PUSH_LEASE_MS: "180000",
  });
  const agent = new Agent({ connections: 64 });
  const api = async (method: string, p: string, token: string | null, body?: unknown) => {
    const r = await request(`${server.baseUrl}${p}`, {
      method: method as "POST",
      dispatcher: agent,
      headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const json = (await r.body.json()) as Record<string, unknown>;
    if (r.statusCode !== 200) throw new Error(`${method} ${p}: ${r.statusCode} ${JSON.stringify(json)}`);
    return json;
  };
  const register = async (name: string) =>
    (
      await api("POST", "/_matrix/client/v3/register", null, {
        username: name,
        password: "bench password",
        auth: { type: "m.login.dummy" },
      })
    ).access_token as string;

  try {
    console.log(`setup: ${USERS} users, each with a pusher and a DM with the sender`);
    const sender = await register("sender");
    const rooms: string[] = [];
    let done = 0;
    await pool(USERS, 8, async (i) => {
      const token = await register(`u${i}`);
      await api("POST", "/_matrix/client/v3/pushers/set", token, {
        kind: "http",
        app_id: "org.nova.bench",
        pushkey: `pk-${i}`,
        app_display_name: "bench",
        device_display_name: "phone",
        lang: "en",
        data: { url: gatewayUrl, format: "event_id_only" },
      });
      const room = (
        await api("POST", "/_matrix/client/v3/createRoom", sender, { invite: [`@u${i}:localhost`] })
      ).room_id as string;
      await api("POST", `/_matrix/client/v3/join/${encodeURIComponent(room)}`, token, {});
      rooms[i] = room;
      if (++done % 100 === 0) console.log(`  ${done}/${USERS}`);
    });
    // Let the invites' and joins' own notifications drain before measuring.
    await new Promise((r) => setTimeout(r, 3_000));

    let txn = 0;
    const send = async (i: number) => {
      const room = rooms[i % rooms.length]!;
      const started = performance.now();
      const r = await api(
        "PUT",
        `/_matrix/client/v3/rooms/${encodeURIComponent(room)}/send/m.room.message/b${txn++}`,
        sender,
        { msgtype: "m.text", body: `message ${i}` },
      );
      return { id: r.event_id as string, started, answered: performance.now() };
    };

    console.log(`latency: ${RATE} events/s for ${SECONDS} s`);
    const sent: { id: string; started: number; answered: number }[] = [];
    const pending: Promise<void>[] = [];
    const t0 = performance.now();
    for (let i = 0; i < RATE * SECONDS; i++) {
      const wait = t0 + (i * 1000) / RATE - performance.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      pending.push(send(i).then((s) => void sent.push(s)));
      if (i % RATE === 0 && i > 0) console.log(`  ${i / RATE} s, ${gateway.arrivals.size} delivered`);
    }
    await Promise.all(pending);
    const deadline = Date.now() + 30_000;
    while (sent.some((s) => !gateway.arrivals.has(s.id)) && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 100));
    const latencies = sent
      .filter((s) => gateway.arrivals.has(s.id))
      .map((s) => gateway.arrivals.get(s.id)! - s.started)
      .sort((a, b) => a - b);
    const missing = sent.length - latencies.length;
    const sends = sent.map((x) => x.answered - x.started).sort((a, b) => a - b);
    // From the send's answer (the event committed) to the receipt: a lower bound of commit → receipt.
    const afterAnswer = sent
      .filter((x) => gateway.arrivals.has(x.id))
      .map((x) => gateway.arrivals.get(x.id)! - x.answered)
      .sort((a, b) => a - b);
    const sendSeconds = (performance.now() - t0) / 1000;
    console.log(
      `  p50 ${percentile(latencies, 50).toFixed(1)} ms, p99 ${percentile(latencies, 99).toFixed(1)} ms, ${missing} missing; the send itself p50 ${percentile(sends, 50).toFixed(1)} ms`,
    );

    console.log(`saturation: a backlog of ${BACKLOG} deliveries held at the gateway, then released`);
    gateway.holding = true;
    const backlogIds: string[] = [];
    await pool(BACKLOG, 16, async (i) => {
      backlogIds.push((await send(RATE * SECONDS + i)).id);
    });
    // The consumer turns the last events into queued deliveries.
    await new Promise((r) => setTimeout(r, 3_000));
    const released = performance.now();
    gateway.release();
    const drainDeadline = Date.now() + 120_000;
    while (backlogIds.some((id) => !gateway.arrivals.has(id)) && Date.now() < drainDeadline)
      await new Promise((r) => setTimeout(r, 50));
    const last = Math.max(...backlogIds.map((id) => gateway.arrivals.get(id) ?? Number.NaN));
    const drained = backlogIds.filter((id) => gateway.arrivals.has(id)).length;
    const novaRate = drained / ((last - released) / 1000);
    console.log(
      `  ${drained}/${BACKLOG} in ${((last - released) / 1000).toFixed(2)} s: ${novaRate.toFixed(0)}/s`,
    );

    console.log(`ceiling: ${BACKLOG} raw POSTs of the same body, ${IN_FLIGHT} in flight`);
    const body = gateway.lastBody;
    const raw = new Agent({ connections: IN_FLIGHT });
    const tr = performance.now();
    await pool(BACKLOG, IN_FLIGHT, async () => {
      const r = await request(gatewayUrl, {
        method: "POST",
        dispatcher: raw,
        headers: { "content-type": "application/json" },
        body,
      });
      await r.body.text();
    });
    const rawRate = BACKLOG / ((performance.now() - tr) / 1000);
    await raw.close();
    console.log(`  ${rawRate.toFixed(0)}/s`);

    const load = loadavg()
      .map((l) => l.toFixed(1))
      .join(" / ");
    writeReportSection(
      "push",
      [
        "## Push (bench/push.ts)",
        "",
        `Server as \`npm start\` runs it (own process, notifications in-process), ${db ? "PostgreSQL" : "embedded PGlite"}. ${USERS} users, each with one HTTP pusher (\`event_id_only\`) on a push gateway in the benchmark's process (bare uWS), each in a DM with the sender; every event notifies one of them.`,
        "",
        "| measurement | Nova | ceiling (same run) | target |",
        "|---|---|---|---|",
        `| send → gateway receipt at ${RATE} events/s for ${SECONDS} s (${sent.length} events, achieved ${(sent.length / sendSeconds).toFixed(0)}/s), p50 / p99 | **${percentile(latencies, 50).toFixed(1)} / ${percentile(latencies, 99).toFixed(1)} ms**${missing > 0 ? ` (${missing} not delivered in 30 s)` : ""} | — | p99 < 250 ms |`,
        `| of which the send request itself (HTTP, build, commit), p50 / p99 | ${percentile(sends, 50).toFixed(1)} / ${percentile(sends, 99).toFixed(1)} ms | — | |`,
        `| send answered → gateway receipt, p50 / p99 (a lower bound of commit → receipt) | ${percentile(afterAnswer, 50).toFixed(1)} / ${percentile(afterAnswer, 99).toFixed(1)} ms | — | |`,
        `| deliveries per second at saturation (a backlog of ${BACKLOG}, ${IN_FLIGHT} in flight) | **${novaRate.toFixed(0)}/s** | raw POST loop of the same body to the same gateway, ${IN_FLIGHT} in flight: ${rawRate.toFixed(0)}/s | ${((novaRate / rawRate) * 100).toFixed(0)} % of the raw loop |`,
        "",
        `The latency is measured from the start of the send request, so it includes the send itself (the commit is inside it): an upper bound of commit → receipt. Each delivery is a claimed queue row, a badge count, the POST, and a delivery-log row with the row's deletion. Load average at the end: ${load} (1/5/15 min) on this 2-core machine, which the server, its database, the gateway and this load generator share.`,
      ].join("\n"),
    );
    console.log("wrote the push section of bench/REPORT.md");
  } finally {
    gateway.close();
    await agent.close();
    await server.stop();
    await db?.drop();
  }
}

await main();
