/** What a batcher reports of each batch (Prometheus histograms, in the caller's area). */
export type BatchObserver = {
  /** Seconds an item waited between submit and its batch starting. */
  wait(seconds: number): void;
  /** Items in the batch, or their total weight when the batcher weighs them. */
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
    private readonly options: {
      maxInFlight?: number;
      maxBatch?: number;
      /** A batch's items weigh at most `maxWeight` together (a heavier item goes alone). */
      weight?: (item: I) => number;
      maxWeight?: number;
      observer?: BatchObserver;
    } = {},
  ) {}

  submit(item: I): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      this.queue.push({ item, at: performance.now(), resolve, reject });
      this.kick();
    });
  }

  /** How many queued items the next batch takes. */
  private take(): number {
    const max = Math.min(this.options.maxBatch ?? 256, this.queue.length);
    const { weight, maxWeight } = this.options;
    if (!weight || maxWeight === undefined) return max;
    let total = 0;
    for (let i = 0; i < max; i++) {
      total += weight(this.queue[i]!.item);
      if (total > maxWeight) return Math.max(i, 1);
    }
    return max;
  }

  private kick(): void {
    if (this.running >= (this.options.maxInFlight ?? 4) || this.queue.length === 0) return;
    this.running++;
    setImmediate(() => {
      const batch = this.queue.splice(0, this.take());
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
        const weight = this.options.weight;
        observer.size(weight ? batch.reduce((n, b) => n + weight(b.item), 0) : batch.length);
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
