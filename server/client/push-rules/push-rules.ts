import { MatrixError, notFound } from "../../../companion-services/platform/errors.ts";
import { ChangeGuardedCache } from "../../../sync/changes.ts";
import type { Notifier } from "../../../sync/notifier.ts";
import type { StreamPositions } from "../../../sync/stream-positions.ts";
import { AccountDataRepository } from "../account-data.repository.ts";
import type { ClientDb } from "../tables.ts";
import { defaultRules } from "./defaults.ts";
import { PushRulesRepository, type UserRuleRow } from "./push-rules.repository.ts";
import type { PushAction, PushCondition, PushRule, PushRuleKind, PushRuleset } from "./types.ts";

export type PutRuleInput = {
  actions: PushAction[];
  conditions?: PushCondition[];
  pattern?: string;
  before?: string;
  after?: string;
};

/**
 * Push rules: server defaults live in code, users' own rules and their changes to defaults in the
 * database. Every change writes an `m.push_rules` account-data marker at a fresh stream position so
 * the user's next /sync carries the whole ruleset. Writes are serialised per user.
 */
export class PushRulesService {
  private readonly repo: PushRulesRepository;
  private readonly accountData: AccountDataRepository;
  private readonly queues = new Map<string, Promise<unknown>>();
  private readonly forSync: ChangeGuardedCache<PushRuleset>;

  constructor(
    private readonly db: ClientDb,
    private readonly streams: StreamPositions,
    notifier: Notifier,
  ) {
    this.repo = new PushRulesRepository(db);
    this.accountData = new AccountDataRepository(db);
    this.forSync = new ChangeGuardedCache(notifier.changes, () => streams.current(), "account_data");
  }

  /**
   * The ruleset shared by every sync of the user until a push-rule change (which writes account
   * data) touches them. Read-only: callers must not modify it.
   */
  cachedRuleset(userId: string): Promise<PushRuleset> {
    return this.forSync.get(userId, () => this.ruleset(userId));
  }

  /** The user's full ruleset: master first, then per kind user rules before the defaults. */
  async ruleset(userId: string): Promise<PushRuleset> {
    const [rows, overrides] = await Promise.all([
      this.repo.userRules(userId),
      this.repo.defaultOverrides(userId),
    ]);
    const defaults = defaultRules(userId);
    for (const kind of Object.keys(defaults) as PushRuleKind[]) {
      for (const r of defaults[kind]) {
        const o = overrides.find((x) => x.kind === kind && x.rule_id === r.rule_id);
        if (!o) continue;
        if (o.enabled !== null) r.enabled = o.enabled;
        if (o.actions !== null) r.actions = o.actions as PushAction[];
      }
    }
    const user = (kind: PushRuleKind) => rows.filter((r) => r.kind === kind).map(toRule);
    const [master, ...defaultOverride] = defaults.override;
    return {
      override: [master!, ...user("override"), ...defaultOverride],
      content: [...user("content"), ...defaults.content],
      room: user("room"),
      sender: user("sender"),
      underride: [...user("underride"), ...defaults.underride],
    };
  }

  async rule(userId: string, kind: PushRuleKind, ruleId: string): Promise<PushRule> {
    const found = (await this.ruleset(userId))[kind].find((r) => r.rule_id === ruleId);
    if (!found) throw notFound("Unknown push rule");
    return found;
  }

  async putRule(userId: string, kind: PushRuleKind, ruleId: string, input: PutRuleInput): Promise<void> {
    if (ruleId.startsWith("."))
      throw new MatrixError(400, "M_INVALID_PARAM", "cannot add rule_ids that start with '.'");
    if (ruleId.includes("/") || ruleId.includes("\\"))
      throw new MatrixError(400, "M_INVALID_PARAM", "rule_id may not contain '/' or '\\'");
    if (kind === "content" && typeof input.pattern !== "string")
      throw new MatrixError(400, "M_MISSING_PARAM", "content rules need a pattern");
    const relative = input.before ?? input.after;
    if (relative?.startsWith("."))
      throw new MatrixError(400, "M_UNKNOWN", "before/after cannot name a server-default rule");
    await this.change(userId, async (db) => {
      let priority: number;
      if (relative !== undefined) {
        const anchor = await this.repo.rule(db, userId, kind, relative);
        if (!anchor || anchor.rule_id === ruleId)
          throw new MatrixError(400, "M_UNKNOWN", `before/after rule not found: ${relative}`);
        const p = Number(anchor.priority);
        // before: just above the anchor; after: take the anchor's slot and push it (and above) up.
        const slot = input.before !== undefined ? p + 1 : p;
        await this.repo.shiftUp(db, userId, kind, slot);
        priority = slot;
      } else {
        priority = (await this.repo.maxPriority(db, userId, kind)) + 1;
      }
      const existing = await this.repo.rule(db, userId, kind, ruleId);
      await this.repo.upsert(db, {
        user_id: userId,
        kind,
        rule_id: ruleId,
        priority,
        conditions: kind === "override" || kind === "underride" ? (input.conditions ?? []) : null,
        pattern: kind === "content" ? (input.pattern ?? null) : null,
        actions: input.actions,
        enabled: existing?.enabled ?? true,
      });
    });
  }

  async deleteRule(userId: string, kind: PushRuleKind, ruleId: string): Promise<void> {
    await this.change(userId, async (db) => {
      if (!(await this.repo.delete(db, userId, kind, ruleId))) throw notFound("Unknown push rule");
    });
  }

  async setAttribute(
    userId: string,
    kind: PushRuleKind,
    ruleId: string,
    patch: { enabled?: boolean; actions?: PushAction[] },
  ): Promise<void> {
    await this.change(userId, async (db) => {
      if (ruleId.startsWith(".")) {
        if (!defaultRules(userId)[kind].some((r) => r.rule_id === ruleId))
          throw notFound("Unknown push rule");
        await this.repo.setDefaultOverride(db, userId, kind, ruleId, patch);
      } else if (!(await this.repo.setUserRule(db, userId, kind, ruleId, patch))) {
        throw notFound("Unknown push rule");
      }
    });
  }

  /** Runs one change (serialised per user) with the m.push_rules marker at a fresh position. */
  private async change(userId: string, fn: (db: ClientDb) => Promise<void>): Promise<void> {
    const prev = this.queues.get(userId) ?? Promise.resolve();
    const run = prev
      .catch(() => undefined)
      .then(async () => {
        await this.streams.write(this.db, async (db, pos, touch) => {
          await fn(db);
          await this.accountData.upsert(db, {
            userId,
            roomId: "",
            type: "m.push_rules",
            content: {},
            position: pos,
          });
          touch({ userIds: [userId], kinds: ["account_data"] });
        });
      });
    this.queues.set(userId, run);
    try {
      await run;
    } finally {
      if (this.queues.get(userId) === run) this.queues.delete(userId);
    }
  }
}

function toRule(r: UserRuleRow): PushRule {
  return {
    rule_id: r.rule_id,
    default: false,
    enabled: r.enabled,
    actions: r.actions as PushAction[],
    ...(r.conditions !== null ? { conditions: r.conditions as PushCondition[] } : {}),
    ...(r.pattern !== null ? { pattern: r.pattern } : {}),
  };
}
