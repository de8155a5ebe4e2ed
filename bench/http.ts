/**
 * Issue #2's first benchmark: `/sync` with nothing new and `/send` throughput against the server
 * as `npm start` runs it, each next to a ceiling measured in the same run — a bare uWebSockets.js
 * server answering the same bytes (the HTTP ceiling) and raw INSERTs on the same database (the
 * storage ceiling). Usage: `tsx bench/http.ts [--seconds 10] [--connections 50]`.
 */

import uWS from "uWebSockets.js";
import { parseArgs } from "node:util";
import autocannon from "autocannon";
import pg from "pg";
import { freshDatabase, startServerProcess } from "../test/helpers/process.ts";
import { writeReportSection } from "./report.ts";

const { values } = parseArgs({
  options: { seconds: { type: "string", default: "10" }, connections: { type: "string", default: "50" } },
});
const duration = Number(values.seconds);
const connections = Number(values.connections);

type Run = { rps: number; p50: number; p99: number; errors: number; non2xx: number };

async function cannon(opts: autocannon.Options): Promise<Run> {
  const r = await autocannon({ duration, connections, ...opts });
  return {
    rps: r.requests.average,
    p50: r.latency.p50,
    p99: r.latency.p99,
    errors: r.errors + r.timeouts,
    non2xx: r.non2xx,
  };
}

async function bareUws(body: string): Promise<{ url: string; close(): void }> {
  const app = uWS.App().any("/*", (res) => {
    res.cork(() => {
      res.writeHeader("Content-Type", "application/json").end(body);
    });
  });
  const port = await new Promise<number>((resolve, reject) =>
    app.listen("127.0.0.1", 0, (s) =>
      s ? resolve(uWS.us_socket_local_port(s)) : reject(new Error("listen")),
    ),
  );
  return { url: `http://127.0.0.1:${port}`, close: () => (app as unknown as { close(): void }).close() };
}

async function main() {
  const db = await freshDatabase();
  const backend = db ? "PostgreSQL" : "embedded PGlite";
  const server = await startServerProcess(db ? { DATABASE_URL: db.url } : {});
  try {
    const reg = await fetch(`${server.baseUrl}/_matrix/client/v3/register`, {
      method: "POST",
      body: JSON.stringify({
        username: "bench",
        password: "bench password",
        auth: { type: "m.login.dummy" },
      }),
    }).then((r) => r.json() as Promise<{ access_token: string }>);
    const auth = { Authorization: `Bearer ${reg.access_token}`, "Content-Type": "application/json" };
    const room = await fetch(`${server.baseUrl}/_matrix/client/v3/createRoom`, {
      method: "POST",
      headers: auth,
      body: JSON.stringify({ name: "bench" }),
    }).then((r) => r.json() as Promise<{ room_id: string }>);
    const first = await fetch(`${server.baseUrl}/_matrix/client/v3/sync?timeout=0`, { headers: auth }).then(
      (r) => r.json() as Promise<{ next_batch: string }>,
    );
    const syncPath = `/_matrix/client/v3/sync?since=${encodeURIComponent(first.next_batch)}&timeout=0`;
    const syncBody = await fetch(server.baseUrl + syncPath, { headers: auth }).then((r) => r.text());

    console.log(`[http] ${backend}; ${connections} connections, ${duration}s per run`);
    const ceiling = await bareUws(syncBody);
    const bareRun = await cannon({ url: ceiling.url + syncPath, headers: auth });
    ceiling.close();
    console.log(`[http] bare uWS ceiling: ${bareRun.rps.toFixed(0)} req/s`);

    const syncRun = await cannon({ url: server.baseUrl + syncPath, headers: auth });
    console.log(`[http] /sync (no changes): ${syncRun.rps.toFixed(0)} req/s, p99 ${syncRun.p99} ms`);

    let txn = 0;
    const sendRun = await cannon({
      url: server.baseUrl,
      requests: [
        {
          method: "PUT",
          headers: auth,
          body: JSON.stringify({ msgtype: "m.text", body: "benchmark message" }),
          setupRequest: (req) => {
            req.path = `/_matrix/client/v3/rooms/${encodeURIComponent(room.room_id)}/send/m.room.message/b${txn++}`;
            return req;
          },
        },
      ],
    });
    console.log(`[http] /send: ${sendRun.rps.toFixed(0)} events/s, p99 ${sendRun.p99} ms`);

    // Storage ceiling: the same number of clients doing single-row INSERTs, one transaction each.
    let insertRate: number | null = null;
    if (db) {
      const pool = new pg.Pool({ connectionString: db.url, max: 10 });
      await pool.query("CREATE TABLE bench_ceiling (id bigserial PRIMARY KEY, room text, body jsonb)");
      let n = 0;
      const until = Date.now() + duration * 1000;
      await Promise.all(
        Array.from({ length: 10 }, async () => {
          while (Date.now() < until) {
            await pool.query("INSERT INTO bench_ceiling (room, body) VALUES ($1, $2)", [
              room.room_id,
              { body: "benchmark message" },
            ]);
            n++;
          }
        }),
      );
      await pool.end();
      insertRate = n / duration;
      console.log(`[http] raw PostgreSQL INSERT ceiling: ${insertRate.toFixed(0)} rows/s`);
    }

    const errors = syncRun.errors + syncRun.non2xx + sendRun.errors + sendRun.non2xx;
    writeReportSection(
      "http",
      `## HTTP: /sync and /send (issue #2)

Server started as \`npm start\` runs it, on ${backend}; autocannon, ${connections} connections, ${duration} s per run.

| measurement | result | ceiling (same run) | ratio |
|---|---|---|---|
| \`/sync\` with no changes (\`timeout=0\`) | ${syncRun.rps.toFixed(0)} req/s, p50 ${syncRun.p50} ms, p99 ${syncRun.p99} ms | bare uWebSockets.js answering the same bytes: ${bareRun.rps.toFixed(0)} req/s | ${(syncRun.rps / bareRun.rps).toFixed(2)} |
| \`PUT /rooms/{id}/send\` | ${sendRun.rps.toFixed(0)} events/s, p50 ${sendRun.p50} ms, p99 ${sendRun.p99} ms | ${insertRate === null ? "raw INSERT ceiling needs DATABASE_URL" : `raw single-row INSERT transactions, 10 clients: ${insertRate.toFixed(0)} rows/s`} | ${insertRate === null ? "—" : (sendRun.rps / insertRate).toFixed(2)} |

Errors or non-2xx responses during the runs: ${errors}.`,
    );
  } finally {
    await server.stop();
    await db?.drop();
  }
}

await main();
