import { Gauge } from "prom-client";
import { registry } from "../companion-services/platform/metrics.ts";

export type CallStats = { calls: number; participants: number; forwardedPackets: number };

/** Live call services of this process (tests run several servers in one process). */
const sources = new Set<() => CallStats>();
const sum = (pick: (s: CallStats) => number) => [...sources].reduce((n, f) => n + pick(f()), 0);

new Gauge({
  name: "nova_calls_active",
  help: "Group calls running on this homeserver's SFU",
  registers: [registry],
  collect() {
    this.set(sum((s) => s.calls));
  },
});
new Gauge({
  name: "nova_call_participants",
  help: "Devices in group calls on this homeserver's SFU",
  registers: [registry],
  collect() {
    this.set(sum((s) => s.participants));
  },
});
new Gauge({
  name: "nova_sfu_forwarded_packets",
  help: "RTP packets forwarded by the SFU in the calls now running",
  registers: [registry],
  collect() {
    this.set(sum((s) => s.forwardedPackets));
  },
});

/** Reports a call service's numbers on /metrics until the returned function is called. */
export function reportCallMetrics(stats: () => CallStats): () => void {
  sources.add(stats);
  return () => sources.delete(stats);
}
