import { Counter, Histogram } from "prom-client";
import { registry } from "../metrics.ts";

/** Kafka event bus metrics (producer and consumers of this process). */
export const kafkaMetrics = {
  produced: new Counter({
    name: "nova_kafka_produced_messages_total",
    help: "Messages the broker acknowledged, by topic",
    labelNames: ["topic"] as const,
    registers: [registry],
  }),
  produceErrors: new Counter({
    name: "nova_kafka_produce_errors_total",
    help: "Publish calls that failed; permanent: the broker rejected the records (not retried as is)",
    labelNames: ["permanent"] as const,
    registers: [registry],
  }),
  produceDuration: new Histogram({
    name: "nova_kafka_produce_duration_seconds",
    help: "Latency of a publish call (all its produce requests, acks=all), success or failure",
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5, 15],
    registers: [registry],
  }),
  consumed: new Counter({
    name: "nova_kafka_consumed_messages_total",
    help: "Messages handled by this process's consumer groups (offset resolved), by topic and group",
    labelNames: ["topic", "group"] as const,
    registers: [registry],
  }),
};
