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

/** A row of the claim statement: the leased row with its pusher and notification. */
type ClaimRow = {
  id: number;
  user_id: string;
  app_id: string;
  pushkey: string;
  notification_id: string | null;
  attempt: number;
  first_attempt_at: number | null;
  pusher_kind: "http" | "email";
  pusher_data: Record<string, unknown>;
  pusher_created_at: number;
  n_kind: NotificationsTables["notifications"]["kind"] | null;
  n_room_id: string | null;
  n_event_id: string | null;
  n_body: Record<string, unknown> | null;
  n_actions: unknown[] | null;
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
    const leasedUntil = now + leaseMs;
    const due = (t: string) =>
      sql.raw(
        `${t}.next_attempt_at <= ${Number(now)} AND (${t}.leased_until IS NULL OR ${t}.leased_until < ${Number(now)})`,
      );
    // One statement, one round trip (the claim runs after every delivery under load):
    // - each pusher's head in one pass over the (pusher, id) index, so a long queue for one device
    //   costs one scan, not a probe per row; the due test is repeated on the locked row, so a head
    //   another worker leased meanwhile is re-checked and left;
    // - the rows after each locked head (no other worker takes them while we hold the head);
    // - rows whose pusher is gone, or whose notification was read before its push went out (a
    //   receipt overtook it; Synapse skips those too), are deleted; the rest are leased.
    const r = await sql<ClaimRow>`WITH heads AS (
          SELECT DISTINCT ON (app_id, pushkey, user_id) id, next_attempt_at, leased_until
          FROM push_queue ORDER BY app_id, pushkey, user_id, id),
        ready AS (
          SELECT h.id FROM heads h WHERE ${due("h")} ORDER BY h.next_attempt_at, h.id LIMIT ${pushers}),
        locked AS (
          SELECT q.id, q.app_id, q.pushkey, q.user_id FROM push_queue q
          WHERE q.id IN (SELECT id FROM ready) AND ${due("q")}
          FOR UPDATE OF q SKIP LOCKED),
        more AS (
          SELECT b.id FROM locked h CROSS JOIN LATERAL (
            SELECT e.id FROM push_queue e
            WHERE e.app_id = h.app_id AND e.pushkey = h.pushkey AND e.user_id = h.user_id AND e.id > h.id
              AND ${due("e")}
            ORDER BY e.id LIMIT ${Math.max(0, perPusher - 1)} FOR UPDATE OF e SKIP LOCKED) b),
        taken AS (
          SELECT q.id, (t.user_id IS NULL OR (q.notification_id IS NOT NULL AND n.read_at IS NOT NULL)) AS needless
          FROM push_queue q
          LEFT JOIN push_tokens t ON t.app_id = q.app_id AND t.pushkey = q.pushkey AND t.user_id = q.user_id
          LEFT JOIN notifications n ON n.id = q.notification_id
          WHERE q.id IN (SELECT id FROM locked UNION ALL SELECT id FROM more)),
        gone AS (DELETE FROM push_queue WHERE id IN (SELECT id FROM taken WHERE needless)),
        leased AS (
          UPDATE push_queue q SET leased_until = ${leasedUntil}, first_attempt_at = coalesce(q.first_attempt_at, ${now})
          WHERE q.id IN (SELECT id FROM taken WHERE NOT needless)
          RETURNING q.id, q.user_id, q.app_id, q.pushkey, q.notification_id, q.attempt, q.first_attempt_at)
      SELECT l.*, t.kind AS pusher_kind, t.data AS pusher_data, t.created_at AS pusher_created_at,
        n.kind AS n_kind, n.room_id AS n_room_id, n.event_id AS n_event_id, n.body AS n_body, n.actions AS n_actions
      FROM leased l
      JOIN push_tokens t ON t.app_id = l.app_id AND t.pushkey = l.pushkey AND t.user_id = l.user_id
      LEFT JOIN notifications n ON n.id = l.notification_id
      ORDER BY l.id`.execute(this.db);
    return r.rows.map((row) => ({
      id: Number(row.id),
      userId: row.user_id,
      appId: row.app_id,
      pushkey: row.pushkey,
      notificationId: row.notification_id,
      attempt: row.attempt,
      firstAttemptAt: row.first_attempt_at === null ? now : Number(row.first_attempt_at),
      leasedUntil,
      pusher: {
        kind: row.pusher_kind,
        appId: row.app_id,
        pushkey: row.pushkey,
        data: row.pusher_data,
        createdAt: Number(row.pusher_created_at),
      },
      notification:
        row.notification_id !== null && row.n_kind !== null && row.n_body !== null
          ? {
              id: row.notification_id,
              kind: row.n_kind,
              roomId: row.n_room_id,
              eventId: row.n_event_id,
              body: row.n_body,
              actions: row.n_actions,
            }
          : null,
    }));
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
