import { Counter, Gauge } from "prom-client";
import { registry } from "../metrics.ts";

const byService = { labelNames: ["service"] as const, registers: [registry] };

/** Outbox processor metrics, labelled by the service whose outbox it publishes. */
export const outboxMetrics = {
  published: new Counter({
    name: "nova_outbox_published_total",
    help: "Outbox events published to the bus",
    ...byService,
  }),
  retried: new Counter({
    name: "nova_outbox_retried_total",
    help: "Outbox events the broker rejected, left pending for a retry after a backoff",
    ...byService,
  }),
  deadLettered: new Counter({
    name: "nova_outbox_dead_lettered_total",
    help: "Outbox events sent to the dead-letter topic after their last try",
    ...byService,
  }),
  lag: new Gauge({
    name: "nova_outbox_lag_seconds",
    help: "Age of the oldest event the processor's latest claim found due for publishing (0: none due)",
    ...byService,
  }),
};
