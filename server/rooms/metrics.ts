import { Counter, Histogram } from "prom-client";
import { registry } from "../../companion-services/platform/metrics.ts";

/** Events per group commit (write/batcher.ts, on platform/batcher.ts). */
export const writeBatchSize = new Histogram({
  name: "nova_rooms_write_batch_size",
  help: "Events committed together by the rooms write batcher (one statement per batch)",
  buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256],
  registers: [registry],
});

/** From a write's submit to the start of the batch that carries it. */
export const writeQueueWait = new Histogram({
  name: "nova_rooms_write_queue_wait_seconds",
  help: "Time a room write waited in the rooms write batcher before its batch started",
  buckets: [0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1],
  registers: [registry],
});

/** Sends into one room that queued up behind its lock and were written as one (write/send-queue.ts). */
export const sendBatchSize = new Histogram({
  name: "nova_rooms_send_batch_size",
  help: "Plain sends into one room built and committed together after waiting for the room's lock",
  buckets: [1, 2, 4, 8, 16, 32, 64, 100],
  registers: [registry],
});

/**
 * Writes built on a room state another replica had already moved past: built again on the
 * reloaded room. With several replicas writing the same rooms this is what their cost turns into.
 */
export const staleWrites = new Counter({
  name: "nova_rooms_stale_writes_total",
  help: "Room writes retried because another replica had moved the room's head (built again on fresh state)",
  registers: [registry],
});
