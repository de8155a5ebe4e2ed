import { WriteBatcher } from "../../../companion-services/platform/batcher.ts";
import { writeBatchSize, writeQueueWait } from "../metrics.ts";

/** The rooms' group commit batcher (platform/batcher.ts), observed by the rooms' histograms. */
export function roomsWriteBatcher<I, R>(
  run: (items: I[]) => Promise<R[]>,
  limits: { weight?: (item: I) => number; maxWeight?: number } = {},
): WriteBatcher<I, R> {
  return new WriteBatcher(run, {
    ...limits,
    observer: { wait: (s) => writeQueueWait.observe(s), size: (n) => writeBatchSize.observe(n) },
  });
}
