import type { Kysely } from "kysely";
import type { Dispatcher } from "undici";
import { WriteBatcher } from "../../platform/batcher.ts";
import type { Logger } from "../../platform/logger.ts";
import type { PushSettings } from "../config.ts";
import type { NotificationsTables } from "../tables.ts";
import { retryDelayMs } from "./backoff.ts";
import { type GatewayOutcome, PushGateway } from "./gateway.ts";
import { type DeliveryLog, DeliveryLogsRepository, type DeliveryStatus } from "./logs.repository.ts";
import { pushMetrics } from "./metrics.ts";
import { buildPayload } from "./payload.ts";
import { type ClaimedDelivery, PushQueueRepository } from "./queue.repository.ts";

export type PushWorkerOptions = {
  /** The user's unread count, read when each push goes out (so a retry carries the current one). */
  badgeOf(userId: string): Promise<number>;
  now?: () => number;
  /** An undici dispatcher to POST through instead of the worker's own keep-alive agent. */
  dispatcher?: Dispatcher;
  /** How often the worker looks for due retries and expired leases on its own, ms (default 500). */
  pollMs?: number;
  /** How often old delivery logs are pruned, ms (default 10 min). */
  pruneEveryMs?: number;
  /** How long stop() lets in-flight POSTs finish before aborting them, ms (default: the POST timeout, at most 10 s). */
  stopGraceMs?: number;
  random?: () => number;
};

/**
 * A pusher's due rows claimed together and sent one after the other: one claim per run of a
 * device's notifications instead of one per notification, order kept.
 */
const PER_PUSHER = 16;

/** The outcome of one attempt, before it is written. */
type Attempt = { outcome: GatewayOutcome; latencyMs: number | null };

/**
 * Delivers `push_queue` rows to push gateways, `settings.concurrency` POSTs at a time. Claims are
 * leased in the database, so workers in several processes share one queue; a row is written off
 * (delivered, retried later, dropped) in one transaction with its attempt's log row. If even that
 * write fails, the lease runs out and another claim retries the row.
 */
export class PushDeliveryWorker {
  private readonly queue: PushQueueRepository;
  private readonly logs: DeliveryLogsRepository;
  private readonly gateway: PushGateway;
  /** Outcomes that end a row, written many to a statement (see finishMany). */
  private readonly finisher: WriteBatcher<
    { d: ClaimedDelivery; delivered: boolean; log: DeliveryLog },
    undefined
  >;
  private readonly now: () => number;
  private readonly inFlight = new Set<Promise<void>>();
  private readonly stopping = new AbortController();
  private running = false;
  private claiming: Promise<void> | null = null;
  private claimAgain = false;
  private timers: NodeJS.Timeout[] = [];
  /** Once stopped, the agent is closed: a worker is not restarted, a new one is made. */
  private stopped: Promise<void> | null = null;

  constructor(
    db: Kysely<NotificationsTables>,
    private readonly settings: PushSettings,
    private readonly logger: Logger,
    private readonly opts: PushWorkerOptions,
  ) {
    this.queue = new PushQueueRepository(db);
    this.logs = new DeliveryLogsRepository(db);
    this.finisher = new WriteBatcher(async (items) => {
      await this.queue.finishMany(items);
      return items.map(() => undefined);
    });
    this.gateway = new PushGateway(settings.timeoutMs, settings.concurrency, opts.dispatcher);
    this.now = opts.now ?? Date.now;
    if (settings.leaseMs <= settings.timeoutMs)
      logger.warn(
        { leaseMs: settings.leaseMs, timeoutMs: settings.timeoutMs },
        "push: the lease is not longer than a POST may take; a slow gateway may get a delivery twice",
      );
  }

  start(): void {
    if (this.running || this.settings.concurrency <= 0 || this.stopped) return;
    this.running = true;
    const poll = setInterval(() => this.wake(), this.opts.pollMs ?? 500);
    const prune = setInterval(() => void this.prune(), this.opts.pruneEveryMs ?? 600_000);
    poll.unref();
    prune.unref();
    this.timers = [poll, prune];
    this.wake();
  }

  /** Looks for due rows now (call it after rows are committed); cheap when there is nothing to do. */
  wake(): void {
    if (!this.running) return;
    if (this.claiming) {
      this.claimAgain = true;
      return;
    }
    const free = this.settings.concurrency - this.inFlight.size;
    if (free <= 0) return;
    this.claiming = this.claim(free).finally(() => {
      this.claiming = null;
      if (this.claimAgain) {
        this.claimAgain = false;
        this.wake();
      }
    });
  }

  /**
   * Stops claiming, lets in-flight deliveries finish for up to `stopGraceMs`, then aborts the
   * rest; an aborted delivery's row is handed back for the next worker without counting.
   */
  stop(): Promise<void> {
    this.stopped ??= this.shutdown();
    return this.stopped;
  }

  private async shutdown(): Promise<void> {
    this.running = false;
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    await this.claiming;
    const grace = this.opts.stopGraceMs ?? Math.min(this.settings.timeoutMs, 10_000);
    const settled = Promise.allSettled([...this.inFlight]).then(() => true);
    const inTime = await Promise.race([
      settled,
      new Promise<false>((r) => setTimeout(() => r(false), grace).unref()),
    ]);
    if (!inTime) this.stopping.abort();
    await Promise.allSettled([...this.inFlight]);
    await this.gateway.close();
  }

  /** Deletes delivery logs older than `logRetentionMs`. */
  async prune(): Promise<number> {
    try {
      return await this.logs.prune(this.now() - this.settings.logRetentionMs);
    } catch (err) {
      this.logger.error({ err }, "push: pruning delivery logs failed");
      return 0;
    }
  }

  private async claim(free: number): Promise<void> {
    let rows: ClaimedDelivery[];
    try {
      rows = await this.queue.claim(this.now(), this.settings.leaseMs, free, PER_PUSHER);
    } catch (err) {
      this.logger.error({ err }, "push: claiming deliveries failed");
      return;
    }
    pushMetrics.claimed.inc(rows.length);
    const byPusher = new Map<string, ClaimedDelivery[]>();
    for (const d of rows) {
      const key = `${d.userId}\u0000${d.appId}\u0000${d.pushkey}`;
      const list = byPusher.get(key) ?? [];
      list.push(d);
      byPusher.set(key, list);
    }
    for (const group of byPusher.values()) this.track(this.deliverInOrder(group));
    // A full batch means more may be due already.
    if (byPusher.size === free) this.claimAgain = true;
  }

  /**
   * One pusher's rows, in order. Once one is not written off (it waits for a retry, its pusher
   * was rejected, the worker is stopping, its lease runs short), the rest are handed back.
   */
  private async deliverInOrder(group: ClaimedDelivery[]): Promise<void> {
    for (let i = 0; i < group.length; i++) {
      const d = group[i]!;
      // The claim's lease covers the whole run; a later row whose lease could end during its POST
      // is handed back rather than risk another worker sending it too.
      const leased = i === 0 || this.now() + this.settings.timeoutMs < d.leasedUntil;
      const status = this.running && leased ? await this.deliver(d) : null;
      if (status === "delivered" || status === "failed" || status === "gave_up") continue;
      for (const rest of group.slice(status === null ? i : i + 1)) {
        await this.queue
          .release(rest)
          .catch((err: unknown) => this.logger.warn({ err }, "push: handing back a delivery failed"));
      }
      return;
    }
  }

  private track(p: Promise<void>): void {
    this.inFlight.add(p);
    pushMetrics.inFlight.inc();
    void p.finally(() => {
      this.inFlight.delete(p);
      pushMetrics.inFlight.dec();
      // Its pusher's next row (if any) became claimable, and a slot is free.
      this.wake();
    });
  }

  /** Sends one row and writes its outcome; null when it was handed back or not written. */
  private async deliver(d: ClaimedDelivery): Promise<DeliveryStatus | null> {
    let attempt: Attempt;
    try {
      attempt = await this.attempt(d);
    } catch (err) {
      // The badge could not be read (the database is away): try again later like a 5xx.
      attempt = { outcome: { kind: "retry", status: null, error: errorText(err) }, latencyMs: null };
    }
    if (this.stopping.signal.aborted && attempt.outcome.kind === "retry" && attempt.outcome.status === null) {
      await this.queue
        .release(d)
        .catch((err: unknown) => this.logger.warn({ err }, "push: handing back a delivery failed"));
      return null;
    }
    try {
      return await this.record(d, attempt);
    } catch (err) {
      this.logger.error({ err, deliveryId: d.id }, "push: recording a delivery's outcome failed");
      return null;
    }
  }

  private async attempt(d: ClaimedDelivery): Promise<Attempt> {
    const url = d.pusher.data.url;
    if (d.pusher.kind !== "http" || typeof url !== "string")
      return {
        outcome: { kind: "failed", status: null, error: "not an http pusher with a url" },
        latencyMs: null,
      };
    if (d.notificationId !== null && d.notification === null)
      return {
        outcome: { kind: "failed", status: null, error: "the notification is gone" },
        latencyMs: null,
      };
    const badge = await this.opts.badgeOf(d.userId);
    let payload: unknown;
    try {
      payload = buildPayload(d.notification, d.pusher, badge, d.userId);
    } catch (err) {
      return {
        outcome: { kind: "failed", status: null, error: `bad stored notification: ${errorText(err)}` },
        latencyMs: null,
      };
    }
    const started = performance.now();
    const outcome = await this.gateway.post(url, payload, this.stopping.signal);
    const seconds = (performance.now() - started) / 1000;
    pushMetrics.seconds.observe(seconds);
    return { outcome, latencyMs: Math.round(seconds * 1000) };
  }

  private async record(d: ClaimedDelivery, attempt: Attempt): Promise<DeliveryStatus> {
    const { outcome, latencyMs } = attempt;
    const now = this.now();
    const log = (status: DeliveryStatus): DeliveryLog => ({
      notificationId: d.notificationId,
      userId: d.userId,
      appId: d.appId,
      pushkey: d.pushkey,
      attempt: d.attempt + 1,
      status,
      httpStatus: outcome.status,
      latencyMs,
      error: outcome.kind === "ok" ? null : outcome.error,
      createdAt: now,
    });
    // The common outcomes end the row: batched with other deliveries' into one statement.
    const ends =
      outcome.kind === "ok"
        ? outcome.rejected.includes(d.pushkey)
          ? null
          : "delivered"
        : outcome.kind === "failed"
          ? "failed"
          : now - d.firstAttemptAt > this.settings.giveUpMs
            ? "gave_up"
            : null;
    if (ends) {
      if (outcome.kind === "ok") this.warnForeignRejections(outcome.rejected, d);
      await this.finisher.submit({ d, delivered: ends === "delivered", log: log(ends) });
      this.observe(d, ends, attempt);
      return ends;
    }
    // A rejected pushkey or a retry: rarer, and each touches more than its row.
    const status = await this.queue.db.transaction().execute(async (trx): Promise<DeliveryStatus> => {
      if (outcome.kind === "ok") {
        this.warnForeignRejections(outcome.rejected, d);
        await this.queue.dropPusher(trx, d.userId, d.appId, d.pushkey);
        await this.logs.insert(trx, log("rejected"));
        return "rejected";
      }
      const delay = retryDelayMs(
        d.attempt + 1,
        this.settings.backoffMs,
        this.settings.backoffMaxMs,
        this.opts.random,
      );
      await this.queue.retryLater(trx, d, now + delay, now);
      await this.logs.insert(trx, log("retry"));
      return "retry";
    });
    this.observe(d, status, attempt);
    return status;
  }

  /** One device per request: a key we did not send is the gateway's confusion, not a verdict. */
  private warnForeignRejections(rejected: string[], d: ClaimedDelivery): void {
    const others = rejected.filter((k) => k !== d.pushkey);
    if (others.length > 0)
      this.logger.warn(
        { appId: d.appId, others: others.length },
        "push: gateway rejected pushkeys it was not sent",
      );
  }

  private observe(d: ClaimedDelivery, status: DeliveryStatus, { outcome }: Attempt): void {
    pushMetrics.deliveries.inc({ outcome: status });
    const log = { deliveryId: d.id, userId: d.userId, appId: d.appId, attempt: d.attempt + 1, status };
    if (status === "delivered") this.logger.debug(log, "push: delivered");
    else
      this.logger.info(
        { ...log, httpStatus: outcome.status, error: outcome.kind === "ok" ? undefined : outcome.error },
        "push: delivery not made",
      );
  }
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
