import { collectDefaultMetrics, Histogram, Registry } from "prom-client";

/** One registry per process, served on /metrics. */
export const registry = new Registry();
collectDefaultMetrics({ register: registry });

export const httpRequestDuration = new Histogram({
  name: "nova_http_request_duration_seconds",
  help: "HTTP request latency by route pattern and status",
  labelNames: ["method", "route", "status"] as const,
  buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30],
  registers: [registry],
});
