import type { Kysely, Transaction } from "kysely";
import { NOTIFICATION_KINDS, type NotificationKind, type NotificationsTables } from "./tables.ts";

type Db = Kysely<NotificationsTables> | Transaction<NotificationsTables>;

export type Preferences = Record<NotificationKind, boolean>;

/** All SQL on `notification_preferences`. A kind without a row is enabled. */
export class PreferencesRepository {
  constructor(private readonly db: Kysely<NotificationsTables>) {}

  async get(userId: string, db: Db = this.db): Promise<Preferences> {
    const rows = await db
      .selectFrom("notification_preferences")
      .select(["kind", "enabled"])
      .where("user_id", "=", userId)
      .execute();
    const prefs = Object.fromEntries(NOTIFICATION_KINDS.map((k) => [k, true])) as Preferences;
    for (const r of rows) if (r.kind in prefs) prefs[r.kind] = r.enabled;
    return prefs;
  }

  /** Which of these (user, kind) pairs are switched off, as `pairKey`s. */
  async disabled(db: Db, pairs: { userId: string; kind: NotificationKind }[]): Promise<Set<string>> {
    if (pairs.length === 0) return new Set();
    const rows = await db
      .selectFrom("notification_preferences")
      .select(["user_id", "kind"])
      .where("user_id", "in", [...new Set(pairs.map((p) => p.userId))])
      .where("kind", "in", [...new Set(pairs.map((p) => p.kind))])
      .where("enabled", "=", false)
      .execute();
    return new Set(rows.map((r) => pairKey(r.user_id, r.kind)));
  }

  async set(trx: Db, userId: string, changes: Partial<Preferences>): Promise<void> {
    const rows = Object.entries(changes).map(([kind, enabled]) => ({
      user_id: userId,
      kind: kind as NotificationKind,
      enabled: enabled === true,
    }));
    if (rows.length === 0) return;
    await trx
      .insertInto("notification_preferences")
      .values(rows)
      .onConflict((oc) =>
        oc.columns(["user_id", "kind"]).doUpdateSet((eb) => ({ enabled: eb.ref("excluded.enabled") })),
      )
      .execute();
  }
}

/** One (user, something) pair as a set member; NUL cannot occur in either part. */
export const pairKey = (userId: string, other: string) => `${userId}\u0000${other}`;
