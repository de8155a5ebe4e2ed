import { Counter } from "prom-client";
import { registry } from "../../platform/metrics.ts";

/** Bytes accepted into resumable upload sessions (chunks stored and acknowledged). */
export const resumableBytesReceived = new Counter({
  name: "nova_media_resumable_bytes_received_total",
  help: "Bytes accepted by resumable (tus) upload PATCHes",
  registers: [registry],
});

export const resumableSessionsCreated = new Counter({
  name: "nova_media_resumable_sessions_created_total",
  help: "Resumable (tus) upload sessions created",
  registers: [registry],
});

/** Sessions whose bytes were assembled and stored as media. */
export const resumableSessionsCompleted = new Counter({
  name: "nova_media_resumable_sessions_completed_total",
  help: "Resumable (tus) upload sessions completed and stored as media",
  registers: [registry],
});

/** Sessions removed by the expiry sweep. */
export const resumableSessionsExpired = new Counter({
  name: "nova_media_resumable_sessions_expired_total",
  help: "Resumable (tus) upload sessions removed by the expiry sweep",
  registers: [registry],
});
