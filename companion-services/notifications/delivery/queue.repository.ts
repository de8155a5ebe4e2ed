import { type Kysely, sql, type Transaction } from "kysely";
import type { NotificationsTables } from "../tables.ts";
import type { DeliveryLog } from "./logs.repository.ts";
import type { NotificationForPayload, PusherForPayload } from "./payload.ts";

type Db = Kysely<NotificationsTables> | Transaction<NotificationsTables>;

/** One delivery to make: a notification (or a badge-only update) to one pusher. */
export type NewDelivery = {
  userId: string;
  appId: string;
  pushkey: string;
  /** Null for a badge-only update. */
  notificationId: string | null;
};

/** A claimed delivery, with what its payload needs loaded in the claim. */
export type ClaimedDelivery = {
  id: number;
  userId: string;
  appId: string;
  pushkey: string;
  notificationId: string | null;
  /** Failed attempts so far. */
  attempt: number;
  firstAttemptAt: number;
  /** The claim's fence: every later write to the row requires the lease still to be this one. */
  leasedUntil: number;
  pusher: PusherForPayload & { kind: "http" | "email" };
  notification: NotificationForPayload | null;
};

/**
 * The durable delivery queue (`push_queue`). Enqueued in the transaction that stores the
 * notification, so a notification and its deliveries commit together. Claims lease rows with
 * FOR UPDATE SKIP LOCKED, so workers in several processes never take the same row; a lease that
 * runs out (its process died) makes the row due again. The table has no owner column: the lease's
 * end time is the fence, since a later claim of the same row always sets a later one.
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

  /**
   * Leases the due rows of up to `pushers` pushers, at most `perPusher` each, oldest first, and
   * loads their pushers and notifications. Only a pusher whose oldest queued row is due (its
   * backoff passed, not leased or its lease ran out) is taken: a pusher in backoff holds back its
   * later rows, so one device gets its notifications and badges in order. A pusher's rows come
   * back together, in id order, for the worker to send one after the other. Rows whose pusher is
   * gone, or whose notification was read before it went out, are deleted here, never sent.
   */
  async claim(now: number, leaseMs: number, pushers: number, perPusher = 1): Promise<ClaimedDelivery[]> {
    if (pushers <= 0) return [];
    return this.db.transaction().execute(async (trx) => {
      // Each pusher's head in one pass over the (pusher, id) index: a queue of many rows for one
      // device costs one scan a claim, not one probe per row. The due test is repeated on the
      // locked row itself, so a head another worker leased meanwhile is re-checked and left.
      const heads = (
        await sql<{ id: number; app_id: string; pushkey: string; user_id: string }>`WITH heads AS (
            SELECT DISTINCT ON (app_id, pushkey, user_id) id, next_attempt_at, leased_until
            FROM push_queue ORDER BY app_id, pushkey, user_id, id),
          ready AS (
            SELECT id FROM heads
            WHERE next_attempt_at <= ${now} AND (leased_until IS NULL OR leased_until < ${now})
            ORDER BY next_attempt_at, id LIMIT ${pushers})
          SELECT q.id, q.app_id, q.pushkey, q.user_id FROM push_queue q
          WHERE q.id IN (SELECT id FROM ready)
            AND q.next_attempt_at <= ${now} AND (q.leased_until IS NULL OR q.leased_until < ${now})
          ORDER BY q.id FOR UPDATE OF q SKIP LOCKED`.execute(trx)
      ).rows;
      const due: { id: number }[] = heads.map((h) => ({ id: Number(h.id) }));
      if (heads.length > 0 && perPusher > 1) {
        // The rows after each head: no other worker takes them while we hold the head.
        const pairs = heads.map(
          (h) => sql`(${Number(h.id)}::bigint, ${h.app_id}::text, ${h.pushkey}::text, ${h.user_id}::text)`,
        );
        const next = await sql<{ id: number }>`SELECT q.id FROM push_queue q WHERE q.id IN (
            SELECT b.id FROM (VALUES ${sql.join(pairs)}) h (id, app_id, pushkey, user_id)
            CROSS JOIN LATERAL (
              SELECT e.id FROM push_queue e
              WHERE e.app_id = h.app_id AND e.pushkey = h.pushkey AND e.user_id = h.user_id AND e.id > h.id
              ORDER BY e.id LIMIT ${perPusher - 1}) b)
            AND q.next_attempt_at <= ${now} AND (q.leased_until IS NULL OR q.leased_until < ${now})
          ORDER BY q.id FOR UPDATE OF q SKIP LOCKED`.execute(trx);
        due.push(...next.rows.map((r) => ({ id: Number(r.id) })));
      }
      if (due.length === 0) return [];
      const ids = due.map((r) => r.id);
      const leasedUntil = now + leaseMs;
      await trx
        .updateTable("push_queue")
        .set((eb) => ({
          leased_until: leasedUntil,
          first_attempt_at: eb.fn.coalesce("first_attempt_at", eb.val(now)),
        }))
        .where("id", "in", ids)
        .execute();
      const rows = await trx
        .selectFrom("push_queue as q")
        .leftJoin("push_tokens as t", (j) =>
          j
            .onRef("t.app_id", "=", "q.app_id")
            .onRef("t.pushkey", "=", "q.pushkey")
            .onRef("t.user_id", "=", "q.user_id"),
        )
        .leftJoin("notifications as n", "n.id", "q.notification_id")
        .select([
          "q.id",
          "q.user_id",
          "q.app_id",
          "q.pushkey",
          "q.notification_id",
          "q.attempt",
          "q.first_attempt_at",
          "t.kind as pusher_kind",
          "t.data as pusher_data",
          "t.created_at as pusher_created_at",
          "n.kind as n_kind",
          "n.room_id as n_room_id",
          "n.event_id as n_event_id",
          "n.body as n_body",
          "n.actions as n_actions",
          "n.read_at as n_read_at",
        ])
        .where("q.id", "in", ids)
        .orderBy("q.id")
        .execute();
      // A pusher that is gone, or a notification read before its push went out (a receipt
      // overtook it, as Synapse skips those), needs no POST.
      const needless = (r: (typeof rows)[number]) =>
        r.pusher_kind === null || (r.notification_id !== null && r.n_read_at !== null);
      const orphans = rows.filter(needless).map((r) => r.id);
      if (orphans.length > 0) await trx.deleteFrom("push_queue").where("id", "in", orphans).execute();
      const claimed: ClaimedDelivery[] = [];
      for (const r of rows) {
        if (needless(r) || r.pusher_kind === null || r.pusher_data === null || r.pusher_created_at === null)
          continue;
        claimed.push({
          id: r.id,
          userId: r.user_id,
          appId: r.app_id,
          pushkey: r.pushkey,
          notificationId: r.notification_id,
          attempt: r.attempt,
          firstAttemptAt: r.first_attempt_at ?? now,
          leasedUntil,
          pusher: {
            kind: r.pusher_kind,
            appId: r.app_id,
            pushkey: r.pushkey,
            data: r.pusher_data,
            createdAt: r.pusher_created_at,
          },
          notification:
            r.notification_id !== null && r.n_kind !== null && r.n_body !== null
              ? {
                  id: r.notification_id,
                  kind: r.n_kind,
                  roomId: r.n_room_id,
                  eventId: r.n_event_id,
                  body: r.n_body,
                  actions: r.n_actions,
                }
              : null,
        });
      }
      return claimed;
    });
  }

  /**
   * Rows written off at once — delivered (their pushers no longer failing), failed or given up —
   * with their attempts' log rows: one statement for a whole batch of the worker's outcomes. A
   * row whose lease was lost is left to its new holder; its attempt is logged all the same.
   */
  async finishMany(items: { d: ClaimedDelivery; delivered: boolean; log: DeliveryLog }[]): Promise<void> {
    if (items.length === 0) return;
    const col = <T>(f: (i: (typeof items)[number]) => T) => items.map(f);
    await sql`WITH v AS (
        SELECT * FROM unnest(${col((i) => i.d.id)}::bigint[], ${col((i) => i.d.leasedUntil)}::bigint[],
          ${col((i) => i.d.userId)}::text[], ${col((i) => i.d.appId)}::text[], ${col((i) => i.d.pushkey)}::text[],
          ${col((i) => i.delivered)}::boolean[]) AS v (id, lease, user_id, app_id, pushkey, delivered)),
      d AS (DELETE FROM push_queue q USING v WHERE q.id = v.id AND q.leased_until = v.lease RETURNING q.id),
      t AS (UPDATE push_tokens t SET failing_since = NULL FROM v
        WHERE v.delivered AND t.app_id = v.app_id AND t.pushkey = v.pushkey AND t.user_id = v.user_id
          AND t.failing_since IS NOT NULL)
      INSERT INTO push_delivery_logs (notification_id, user_id, app_id, pushkey, attempt, status, http_status,
        latency_ms, error, created_at)
      SELECT * FROM unnest(${col((i) => i.log.notificationId)}::uuid[], ${col((i) => i.log.userId)}::text[],
        ${col((i) => i.log.appId)}::text[], ${col((i) => i.log.pushkey)}::text[], ${col((i) => i.log.attempt)}::int[],
        ${col((i) => i.log.status)}::text[], ${col((i) => i.log.httpStatus)}::int[], ${col((i) => i.log.latencyMs)}::int[],
        ${col((i) => i.log.error?.slice(0, 1_000) ?? null)}::text[], ${col((i) => i.log.createdAt)}::bigint[])`.execute(
      this.db,
    );
  }

  /** Puts the row back to wait until `nextAttemptAt`, one failure more; the pusher is failing. */
  async retryLater(trx: Db, d: ClaimedDelivery, nextAttemptAt: number, now: number): Promise<boolean> {
    const r = await trx
      .updateTable("push_queue")
      .set({ attempt: d.attempt + 1, next_attempt_at: nextAttemptAt, leased_until: null })
      .where("id", "=", d.id)
      .where("leased_until", "=", d.leasedUntil)
      .executeTakeFirst();
    await trx
      .updateTable("push_tokens")
      .set({ failing_since: now })
      .where("app_id", "=", d.appId)
      .where("pushkey", "=", d.pushkey)
      .where("user_id", "=", d.userId)
      .where("failing_since", "is", null)
      .execute();
    return Number(r.numUpdatedRows) === 1;
  }

  /** The gateway rejected the pushkey: the pusher and everything still queued for it go. */
  async dropPusher(trx: Db, userId: string, appId: string, pushkey: string): Promise<void> {
    await trx
      .deleteFrom("push_queue")
      .where("app_id", "=", appId)
      .where("pushkey", "=", pushkey)
      .where("user_id", "=", userId)
      .execute();
    await trx
      .deleteFrom("push_tokens")
      .where("app_id", "=", appId)
      .where("pushkey", "=", pushkey)
      .where("user_id", "=", userId)
      .execute();
  }

  /** Hands a claimed row back untouched (the worker is stopping): the attempt does not count. */
  async release(d: ClaimedDelivery): Promise<void> {
    await this.db
      .updateTable("push_queue")
      .set({ leased_until: null })
      .where("id", "=", d.id)
      .where("leased_until", "=", d.leasedUntil)
      .execute();
  }
}
