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

  async enabled(db: Db, userId: string, kind: NotificationKind): Promise<boolean> {
    const row = await db
      .selectFrom("notification_preferences")
      .select("enabled")
      .where("user_id", "=", userId)
      .where("kind", "=", kind)
      .executeTakeFirst();
    return row?.enabled ?? true;
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
