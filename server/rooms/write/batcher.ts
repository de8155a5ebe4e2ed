import { writeBatchSize, writeQueueWait } from "../metrics.ts";

/**
 * Group commit: writes that arrive while others are in flight are gathered and committed together,
 * so under load many events share one transaction (and one stream allocation round trip) instead
 * of paying four round trips each. At most `maxInFlight` batches run at once; an idle batcher
 * starts a batch on the next turn of the event loop, so a lone write waits for nothing.
 */
export class WriteBatcher<I, R> {
  /** `at`: when the write was submitted (performance.now(), ms), for the queue-wait histogram. */
  private queue: { item: I; at: number; resolve: (r: R) => void; reject: (e: unknown) => void }[] = [];
  private running = 0;

  constructor(
    private readonly run: (items: I[]) => Promise<R[]>,
    private readonly maxInFlight = 4,
    private readonly maxBatch = 256,
  ) {}

  submit(item: I): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      this.queue.push({ item, at: performance.now(), resolve, reject });
      this.kick();
    });
  }

  private kick(): void {
    if (this.running >= this.maxInFlight || this.queue.length === 0) return;
    this.running++;
    setImmediate(() => {
      const batch = this.queue.splice(0, this.maxBatch);
      const done = () => {
        this.running--;
        this.kick();
      };
      if (batch.length === 0) {
        done();
        return;
      }
      const now = performance.now();
      for (const b of batch) writeQueueWait.observe((now - b.at) / 1000);
      writeBatchSize.observe(batch.length);
      this.run(batch.map((b) => b.item)).then(
        (results) => {
          batch.forEach((b, i) => {
            b.resolve(results[i]!);
          });
          done();
        },
        (err: unknown) => {
          for (const b of batch) b.reject(err);
          done();
        },
      );
    });
  }
}
