import type { Kysely, Transaction } from "kysely";
import type { NotificationsTables } from "../tables.ts";

type Db = Kysely<NotificationsTables> | Transaction<NotificationsTables>;

/** One delivery to make: a notification (or a badge-only update) to one pusher. */
export type NewDelivery = {
  userId: string;
  appId: string;
  pushkey: string;
  /** Null for a badge-only update. */
  notificationId: string | null;
};

/**
 * The durable delivery queue (`push_queue`). Enqueued in the transaction that stores the
 * notification, so a notification and its deliveries commit together.
 */
export class PushQueueRepository {
  constructor(readonly db: Kysely<NotificationsTables>) {}

  async enqueue(trx: Db, deliveries: NewDelivery[], now = Date.now()): Promise<void> {
    if (deliveries.length === 0) return;
    await trx
      .insertInto("push_queue")
      .values(
        deliveries.map((d) => ({
          user_id: d.userId,
          app_id: d.appId,
          pushkey: d.pushkey,
          notification_id: d.notificationId,
          badge_only: d.notificationId === null,
          next_attempt_at: now,
          created_at: now,
        })),
      )
      .execute();
  }
}
