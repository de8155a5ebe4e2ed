import type * as grpc from "@grpc/grpc-js";
import { status } from "@grpc/grpc-js";
import { Counter, Histogram } from "prom-client";
import { registry } from "../metrics.ts";

const buckets = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5];

function side(name: "server" | "client", what: string) {
  return {
    calls: new Counter({
      name: `nova_grpc_${name}_calls_total`,
      help: `Unary gRPC calls ${what}, by method and status code`,
      labelNames: ["method", "code"] as const,
      registers: [registry],
    }),
    errors: new Counter({
      name: `nova_grpc_${name}_errors_total`,
      help: `Unary gRPC calls ${what} that ended with a status other than OK`,
      labelNames: ["method", "code"] as const,
      registers: [registry],
    }),
    duration: new Histogram({
      name: `nova_grpc_${name}_duration_seconds`,
      help: `Latency of unary gRPC calls ${what}, by method`,
      labelNames: ["method"] as const,
      buckets,
      registers: [registry],
    }),
  };
}

const server = side("server", "handled by this process");
const client = side("client", "made by this process (retries included in one call)");

/** Records one finished call: its method, gRPC status and seconds since `startedAt` (ms). */
function record(m: typeof server, method: string, code: grpc.status, startedAt: number): void {
  const name = status[code] ?? String(code);
  m.calls.inc({ method, code: name });
  if (code !== status.OK) m.errors.inc({ method, code: name });
  m.duration.observe({ method }, (performance.now() - startedAt) / 1000);
}

/** A call this process's server finished (see `startedAt`: a `performance.now()` reading). */
export function recordServerCall(method: string, code: grpc.status, startedAt: number): void {
  record(server, method, code, startedAt);
}

/** A call this process made finished, after its retries. */
export function recordClientCall(method: string, code: grpc.status, startedAt: number): void {
  record(client, method, code, startedAt);
}
