import type { Kysely, Transaction } from "kysely";
import type { NotificationsTables } from "../tables.ts";

type Db = Kysely<NotificationsTables> | Transaction<NotificationsTables>;

export type DeliveryStatus = "delivered" | "retry" | "failed" | "rejected" | "gave_up";

/** One attempt at one delivery, as `push_delivery_logs` keeps it. */
export type DeliveryLog = {
  notificationId: string | null;
  userId: string;
  appId: string;
  pushkey: string;
  attempt: number;
  status: DeliveryStatus;
  httpStatus: number | null;
  latencyMs: number | null;
  error: string | null;
  createdAt: number;
};

/** Per-attempt delivery logs, kept for `logRetentionMs`. */
export class DeliveryLogsRepository {
  constructor(private readonly db: Kysely<NotificationsTables>) {}

  async insert(trx: Db, log: DeliveryLog): Promise<void> {
    await trx
      .insertInto("push_delivery_logs")
      .values({
        notification_id: log.notificationId,
        user_id: log.userId,
        app_id: log.appId,
        pushkey: log.pushkey,
        attempt: log.attempt,
        status: log.status,
        http_status: log.httpStatus,
        latency_ms: log.latencyMs,
        // A gateway's error text is not ours to store in full.
        error: log.error?.slice(0, 1_000) ?? null,
        created_at: log.createdAt,
      })
      .execute();
  }

  /**
   * Deletes logs created before `before`, `batch` rows per statement, so a long backlog never
   * becomes one huge delete holding locks. Returns how many went.
   */
  async prune(before: number, batch = 5_000): Promise<number> {
    let total = 0;
    for (;;) {
      const r = await this.db
        .deleteFrom("push_delivery_logs")
        .where("id", "in", (eb) =>
          eb.selectFrom("push_delivery_logs").select("id").where("created_at", "<", before).limit(batch),
        )
        .executeTakeFirst();
      const n = Number(r.numDeletedRows);
      total += n;
      if (n < batch) return total;
    }
  }
}
