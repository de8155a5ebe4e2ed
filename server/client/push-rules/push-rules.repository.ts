import { sql } from "kysely";
import type { ClientDb, ClientTables } from "../tables.ts";

export type UserRuleRow = ClientTables["push_rules"];
export type DefaultOverrideRow = ClientTables["push_rule_default_overrides"];

/** A user's own push rules and their changes to server-default rules. */
export class PushRulesRepository {
  constructor(private readonly db: ClientDb) {}

  async userRules(userId: string): Promise<UserRuleRow[]> {
    return this.db
      .selectFrom("push_rules")
      .selectAll()
      .where("user_id", "=", userId)
      .orderBy("kind")
      .orderBy("priority", "desc")
      .execute();
  }

  async defaultOverrides(userId: string): Promise<DefaultOverrideRow[]> {
    return this.db
      .selectFrom("push_rule_default_overrides")
      .selectAll()
      .where("user_id", "=", userId)
      .execute();
  }

  async rule(db: ClientDb, userId: string, kind: string, ruleId: string): Promise<UserRuleRow | undefined> {
    return db
      .selectFrom("push_rules")
      .selectAll()
      .where("user_id", "=", userId)
      .where("kind", "=", kind)
      .where("rule_id", "=", ruleId)
      .executeTakeFirst();
  }

  async maxPriority(db: ClientDb, userId: string, kind: string): Promise<number> {
    const r = await db
      .selectFrom("push_rules")
      .select(sql<number | null>`max(priority)`.as("p"))
      .where("user_id", "=", userId)
      .where("kind", "=", kind)
      .executeTakeFirst();
    return r?.p === null || r?.p === undefined ? 0 : Number(r.p);
  }

  /** Moves every rule of the kind at or above `from` one step up, to open a slot. */
  async shiftUp(db: ClientDb, userId: string, kind: string, from: number): Promise<void> {
    await db
      .updateTable("push_rules")
      .set({ priority: sql`priority + 1` })
      .where("user_id", "=", userId)
      .where("kind", "=", kind)
      .where("priority", ">=", from)
      .execute();
  }

  async upsert(db: ClientDb, row: UserRuleRow): Promise<void> {
    await db
      .insertInto("push_rules")
      .values({
        ...row,
        conditions: row.conditions === null ? null : JSON.stringify(row.conditions),
        actions: JSON.stringify(row.actions),
      })
      .onConflict((oc) =>
        oc.columns(["user_id", "kind", "rule_id"]).doUpdateSet({
          priority: row.priority,
          conditions: row.conditions === null ? null : JSON.stringify(row.conditions),
          pattern: row.pattern,
          actions: JSON.stringify(row.actions),
        }),
      )
      .execute();
  }

  async delete(db: ClientDb, userId: string, kind: string, ruleId: string): Promise<boolean> {
    const r = await db
      .deleteFrom("push_rules")
      .where("user_id", "=", userId)
      .where("kind", "=", kind)
      .where("rule_id", "=", ruleId)
      .executeTakeFirst();
    return Number(r.numDeletedRows) > 0;
  }

  async setUserRule(
    db: ClientDb,
    userId: string,
    kind: string,
    ruleId: string,
    patch: { enabled?: boolean; actions?: unknown },
  ): Promise<boolean> {
    const set: { enabled?: boolean; actions?: string } = {};
    if (patch.enabled !== undefined) set.enabled = patch.enabled;
    if (patch.actions !== undefined) set.actions = JSON.stringify(patch.actions);
    const r = await db
      .updateTable("push_rules")
      .set(set)
      .where("user_id", "=", userId)
      .where("kind", "=", kind)
      .where("rule_id", "=", ruleId)
      .executeTakeFirst();
    return Number(r.numUpdatedRows) > 0;
  }

  async setDefaultOverride(
    db: ClientDb,
    userId: string,
    kind: string,
    ruleId: string,
    patch: { enabled?: boolean; actions?: unknown },
  ): Promise<void> {
    const actions = patch.actions === undefined ? undefined : JSON.stringify(patch.actions);
    await db
      .insertInto("push_rule_default_overrides")
      .values({
        user_id: userId,
        kind,
        rule_id: ruleId,
        enabled: patch.enabled ?? null,
        actions: actions ?? null,
      })
      .onConflict((oc) =>
        oc.columns(["user_id", "kind", "rule_id"]).doUpdateSet({
          ...(patch.enabled !== undefined ? { enabled: patch.enabled } : {}),
          ...(actions !== undefined ? { actions } : {}),
        }),
      )
      .execute();
  }
}
