import { CacheMetrics } from "../../../companion-services/platform/cache-metrics.ts";

const TXN_CACHE_SIZE = 50_000;

/** A send/redact transaction id: the same (device, endpoint, txnId) is the same request. */
export type TxnKey = { userId: string; deviceId: string; scope: string; txnId: string };

export type SendOptions = { txnId?: string; deviceId?: string };

/** The transaction a request names; none unless it gives both a device and a txnId. */
export function txnOf(userId: string, scope: string, opts: SendOptions): TxnKey | undefined {
  return opts.txnId !== undefined && opts.deviceId !== undefined
    ? { userId, deviceId: opts.deviceId, scope, txnId: opts.txnId }
    : undefined;
}

/**
 * Event ids of recent PUT /send and /redact transactions, so a retried request is answered from
 * memory; the database (room_txns) stays the authority for anything evicted.
 */
export class TxnIdCache {
  private readonly ids = new Map<string, string>();
  /** Writes under way, by key. */
  private readonly running = new Map<string, Promise<string>>();
  private readonly metrics = new CacheMetrics("txn_ids");

  private static key(txn: TxnKey): string {
    return `${txn.userId}|${txn.deviceId}|${txn.scope}|${txn.txnId}`;
  }

  /**
   * The event id of `txn` if it was already written, else what `write` writes (then remembered).
   * A request retried while the first is still running shares its outcome, so the two never race
   * to write (sends queued together would otherwise build an event for each).
   */
  async once(txn: TxnKey | undefined, write: () => Promise<string>): Promise<string> {
    if (!txn) return write();
    const key = TxnIdCache.key(txn);
    const hit = this.get(key);
    if (hit) return hit;
    const running = this.running.get(key);
    if (running) return running;
    const p = write().then((id) => {
      this.remember(key, id);
      return id;
    });
    this.running.set(key, p);
    try {
      return await p;
    } finally {
      if (this.running.get(key) === p) this.running.delete(key);
    }
  }

  private get(key: string): string | undefined {
    const hit = this.ids.get(key);
    if (hit) this.metrics.hit();
    else this.metrics.miss();
    return hit;
  }

  private remember(key: string, eventId: string): void {
    if (this.ids.size >= TXN_CACHE_SIZE) {
      const oldest = this.ids.keys().next().value;
      if (oldest !== undefined) this.ids.delete(oldest);
    }
    this.ids.set(key, eventId);
    this.metrics.sized(this.ids.size);
  }
}
