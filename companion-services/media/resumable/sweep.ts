import type { Logger } from "../../platform/logger.ts";

/** Runs the expiry sweep now, or every `intervalMs`; one sweep at a time. */
export class Sweeper {
  private timer: NodeJS.Timeout | null = null;
  private current: Promise<number> | null = null;

  constructor(
    private readonly run: () => Promise<number>,
    private readonly intervalMs: number,
    private readonly logger: Logger,
  ) {}

  sweep(): Promise<number> {
    if (!this.current) {
      this.current = this.run().finally(() => {
        this.current = null;
      });
    }
    return this.current;
  }

  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => {
      this.sweep()
        .then((n) => {
          if (n > 0) this.logger.info({ removed: n }, "swept expired resumable uploads");
        })
        .catch((err: unknown) => this.logger.error({ err }, "resumable upload sweep failed"));
    }, this.intervalMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.current?.catch(() => undefined);
  }
}
