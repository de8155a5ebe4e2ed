import { Counter, Gauge, Histogram } from "prom-client";
import { registry } from "../../platform/metrics.ts";

/** The transcode workers' metrics. */
export const videoMetrics = {
  jobs: new Counter({
    name: "nova_video_jobs_total",
    help: "Transcode jobs finished by a worker, by outcome (ready, retried, failed, dead, released)",
    labelNames: ["outcome"] as const,
    registers: [registry],
  }),
  transcodeSeconds: new Histogram({
    name: "nova_video_transcode_seconds",
    help: "Wall time of one video's ffmpeg HLS encode and poster grab",
    buckets: [0.5, 1, 2, 5, 10, 30, 60, 120, 300, 900],
    registers: [registry],
  }),
  running: new Gauge({
    name: "nova_video_jobs_running",
    help: "Transcode jobs this process's workers are working on",
    registers: [registry],
  }),
};
