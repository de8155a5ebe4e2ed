import http from "node:http";
import type { Logger } from "../logger.ts";
import { registry } from "../metrics.ts";
import { AddressInUseError } from "./listen-error.ts";

/** What keeps a process from taking traffic: an empty list is ready. */
export type ReadinessCheck = () => Promise<string[]>;

export type OpsListener = { port: number; close(): Promise<void> };

export type OpsListenerOptions = {
  host: string;
  port: number;
  /** Which service this process runs, echoed by /health and /ready. */
  service: string;
  logger: Logger;
  ready: ReadinessCheck;
};

/**
 * The admin listener (NOVA_ADMIN_PORT, loopback by default): Prometheus' `/metrics`, the liveness
 * probe `/health` and the readiness probe `/ready`, for every kind of process, including those
 * with no client listener (identity, graph). It is node's own HTTP server rather than uWS: a
 * scrape every few seconds needs no throughput, and it stays up on its own while the client
 * listener drains, so probes see "not ready" instead of a refused connection.
 */
export async function startOpsListener(opts: OpsListenerOptions): Promise<OpsListener> {
  const server = http.createServer((req, res) => {
    answer(req, opts)
      .then(({ status, type, body }) => {
        res.writeHead(status, { "Content-Type": type, "Cache-Control": "no-store" });
        res.end(req.method === "HEAD" ? undefined : body);
      })
      .catch((err: unknown) => {
        opts.logger.error({ err }, "admin listener request failed");
        if (!res.headersSent) res.writeHead(500, { "Content-Type": "application/json" });
        res.end(JSON.stringify({ errcode: "M_UNKNOWN", error: "internal error" }));
      });
  });
  // Probes and scrapes are short; a client that holds a socket open must not keep it forever.
  server.requestTimeout = 10_000;
  server.keepAliveTimeout = 5_000;
  const port = await new Promise<number>((resolve, reject) => {
    server.once("error", (err: NodeJS.ErrnoException) =>
      reject(err.code === "EADDRINUSE" ? new AddressInUseError(opts.host, opts.port) : err),
    );
    server.listen({ host: opts.host, port: opts.port, exclusive: true }, () => {
      const addr = server.address();
      resolve(typeof addr === "object" && addr ? addr.port : opts.port);
    });
  });
  opts.logger.info(
    { host: opts.host, port, service: opts.service },
    "admin listener (metrics, health, ready)",
  );
  return {
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

type Answer = { status: number; type: string; body: string };

const json = (status: number, body: unknown): Answer => ({
  status,
  type: "application/json",
  body: JSON.stringify(body),
});

async function answer(req: http.IncomingMessage, opts: OpsListenerOptions): Promise<Answer> {
  if (req.method !== "GET" && req.method !== "HEAD")
    return json(405, { errcode: "M_UNRECOGNIZED", error: "Only GET and HEAD" });
  const path = (req.url ?? "/").split("?")[0];
  if (path === "/metrics") return { status: 200, type: registry.contentType, body: await registry.metrics() };
  if (path === "/health") return json(200, { status: "ok", service: opts.service });
  if (path === "/ready") {
    const reasons = await opts.ready();
    return reasons.length === 0
      ? json(200, { status: "ready", service: opts.service })
      : json(503, { status: "not ready", service: opts.service, reasons });
  }
  return json(404, { errcode: "M_UNRECOGNIZED", error: "Unrecognized request" });
}

/**
 * Readiness from parts: each check answers a reason or null, and one that takes longer than
 * `timeoutMs` (a database that stopped answering) is a reason too.
 */
export function readiness(
  checks: Record<string, () => Promise<string | null> | string | null>,
  timeoutMs = 2000,
): ReadinessCheck {
  return async () => {
    const results = await Promise.all(
      Object.entries(checks).map(async ([name, check]) => {
        let timer: NodeJS.Timeout | undefined;
        const timeout = new Promise<string>((resolve) => {
          timer = setTimeout(() => resolve(`${name}: no answer within ${timeoutMs} ms`), timeoutMs);
        });
        try {
          return await Promise.race([
            Promise.resolve(check()).catch((err: unknown) => `${name}: ${(err as Error).message}`),
            timeout,
          ]);
        } finally {
          clearTimeout(timer);
        }
      }),
    );
    return results.filter((r): r is string => r !== null);
  };
}
