import { Counter, Gauge, Histogram } from "prom-client";
import { registry } from "../../platform/metrics.ts";

/** The push delivery worker's metrics: counted in memory as deliveries happen, no queries. */
export const pushMetrics = {
  deliveries: new Counter({
    name: "nova_push_deliveries_total",
    help: "Push gateway deliveries by outcome (delivered, retry, failed, rejected, gave_up)",
    labelNames: ["outcome"] as const,
    registers: [registry],
  }),
  seconds: new Histogram({
    name: "nova_push_delivery_seconds",
    help: "Round trip of one POST to a push gateway",
    buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [registry],
  }),
  claimed: new Counter({
    name: "nova_push_queue_claimed_total",
    help: "Push queue rows this process claimed for delivery",
    registers: [registry],
  }),
  inFlight: new Gauge({
    name: "nova_push_in_flight",
    help: "Push deliveries this process has in flight",
    registers: [registry],
  }),
};
