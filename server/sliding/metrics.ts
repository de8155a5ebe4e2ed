import { Counter, Histogram } from "prom-client";
import { registry } from "../../companion-services/platform/metrics.ts";

/** Time to compute one sliding sync response (without the long-poll's wait). */
export const computeSeconds = new Histogram({
  name: "nova_sliding_sync_compute_seconds",
  help: "Time to compute one simplified sliding sync response, by kind (initial: no pos)",
  labelNames: ["kind"],
  buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
  registers: [registry],
});

export const responses = new Counter({
  name: "nova_sliding_sync_responses_total",
  help: "Sliding sync responses, by outcome: data, empty (long-poll timed out), replay (a retried pos), unknown_pos",
  labelNames: ["outcome"],
  registers: [registry],
});

/** Rooms whose result could not be computed: left out of the response with their cursor kept. */
export const roomFailures = new Counter({
  name: "nova_sliding_sync_room_failures_total",
  help: "Rooms left out of a sliding sync response because computing them failed",
  registers: [registry],
});
