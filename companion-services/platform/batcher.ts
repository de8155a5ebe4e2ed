/** What a batcher reports of each batch (Prometheus histograms, in the caller's area). */
export type BatchObserver = {
  /** Seconds an item waited between submit and its batch starting. */
  wait(seconds: number): void;
  size(items: number): void;
};

/**
 * Group commit: writes that arrive while others are in flight are gathered and committed together,
 * so under load many share one statement or transaction instead of paying their round trips each.
 * At most `maxInFlight` batches run at once; an idle batcher starts a batch on the next turn of
 * the event loop, so a lone write waits for nothing.
 */
export class WriteBatcher<I, R> {
  /** `at`: when the write was submitted (performance.now(), ms), for the queue-wait histogram. */
  private queue: { item: I; at: number; resolve: (r: R) => void; reject: (e: unknown) => void }[] = [];
  private running = 0;

  constructor(
    private readonly run: (items: I[]) => Promise<R[]>,
    private readonly options: { maxInFlight?: number; maxBatch?: number; observer?: BatchObserver } = {},
  ) {}

  submit(item: I): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      this.queue.push({ item, at: performance.now(), resolve, reject });
      this.kick();
    });
  }

  private kick(): void {
    if (this.running >= (this.options.maxInFlight ?? 4) || this.queue.length === 0) return;
    this.running++;
    setImmediate(() => {
      const batch = this.queue.splice(0, this.options.maxBatch ?? 256);
      const done = () => {
        this.running--;
        this.kick();
      };
      if (batch.length === 0) {
        done();
        return;
      }
      const observer = this.options.observer;
      if (observer) {
        const now = performance.now();
        for (const b of batch) observer.wait((now - b.at) / 1000);
        observer.size(batch.length);
      }
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
