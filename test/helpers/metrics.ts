import { registry } from "../../companion-services/platform/metrics.ts";

/**
 * The sum of a metric's series carrying these labels, from the process's registry (0 when it
 * has none). `series` is a metric's name, or a histogram's `_count`, `_sum` or `_bucket`.
 */
export async function metricValue(series: string, labels: Record<string, string> = {}): Promise<number> {
  const metric =
    registry.getSingleMetric(series) ?? registry.getSingleMetric(series.replace(/_(count|sum|bucket)$/, ""));
  if (!metric) return 0;
  const { name, values } = await metric.get();
  return values
    .filter(
      (v) =>
        ("metricName" in v && v.metricName !== undefined ? v.metricName === series : name === series) &&
        Object.entries(labels).every(([k, want]) => String(v.labels[k]) === want),
    )
    .reduce((sum, v) => sum + v.value, 0);
}
