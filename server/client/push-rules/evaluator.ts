import { LEGACY_MENTION_RULES } from "./defaults.ts";
import {
  PUSH_RULE_KINDS,
  type PushAction,
  type PushCondition,
  type PushRule,
  type PushRuleset,
} from "./types.ts";

/** What a push-rule evaluation needs to know besides the event (computed once per event and user). */
export type PushContext = {
  /** The recipient. */
  userId: string;
  /** The recipient's display name in the room (contains_display_name); null/empty never matches. */
  displayName: string | null;
  /** Number of joined members (room_member_count). */
  memberCount: number;
  /** The sender's power level in the room. */
  senderPowerLevel: number;
  /** `notifications` of m.room.power_levels (sender_notification_permission); missing keys need 50. */
  notificationLevels: Record<string, number>;
};

export type Scalar = string | number | boolean | null;

/**
 * Flattens an event into dot-separated keys (`.` and `\` in keys escaped with `\`), keeping
 * scalars and arrays of scalars, as the spec's "dot-separated property paths" define.
 */
export function flattenEvent(event: Record<string, unknown>): Map<string, Scalar | Scalar[]> {
  const out = new Map<string, Scalar | Scalar[]>();
  const walk = (obj: Record<string, unknown>, prefix: string, depth: number) => {
    if (depth > 20) return;
    for (const [k, v] of Object.entries(obj)) {
      const key = prefix + k.replace(/[\\.]/g, (c) => `\\${c}`);
      if (v === null || typeof v === "string" || typeof v === "boolean" || typeof v === "number") {
        out.set(key, v);
      } else if (Array.isArray(v)) {
        out.set(
          key,
          v.filter((x): x is Scalar => x === null || ["string", "number", "boolean"].includes(typeof x)),
        );
      } else if (typeof v === "object") {
        walk(v as Record<string, unknown>, `${key}.`, depth + 1);
      }
    }
  };
  walk(event, "", 0);
  return out;
}

/** Compiled globs, one map per matching mode (no key string built on the hot path). */
const regexCache = { word: new Map<string, RegExp>(), whole: new Map<string, RegExp>() };

/**
 * Glob to regex: `*` any run, `?` one character, case-insensitive. `word` matches at word
 * boundaries anywhere (content.body), otherwise the whole value must match.
 */
export function globRegex(glob: string, word: boolean): RegExp {
  const cache = word ? regexCache.word : regexCache.whole;
  let re = cache.get(glob);
  if (re) return re;
  const body = glob
    .split("")
    .map((c) => (c === "*" ? ".*?" : c === "?" ? "." : c.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")))
    .join("");
  re = word ? new RegExp(`(?:^|\\W|\\b)${body}(?:\\b|\\W|$)`, "is") : new RegExp(`^${body}$`, "is");
  if (cache.size > 5000) cache.clear();
  cache.set(glob, re);
  return re;
}

function strictEquals(a: Scalar | undefined, b: Scalar | undefined): boolean {
  return a !== undefined && b !== undefined && typeof a === typeof b && a === b;
}

const MEMBER_COUNT_RE = /^(==|<=|>=|<|>)?([0-9]+)$/;

function matchMemberCount(is: string | undefined, count: number): boolean {
  const m = is === undefined ? null : MEMBER_COUNT_RE.exec(is);
  if (!m) return false;
  const n = Number(m[2]);
  switch (m[1] ?? "==") {
    case "==":
      return count === n;
    case "<":
      return count < n;
    case ">":
      return count > n;
    case "<=":
      return count <= n;
    case ">=":
      return count >= n;
    default:
      return false;
  }
}

function matchCondition(
  cond: PushCondition,
  flat: Map<string, Scalar | Scalar[]>,
  ctx: PushContext,
): boolean {
  switch (cond.kind) {
    case "event_match": {
      if (cond.key === undefined || cond.pattern === undefined) return false;
      const v = flat.get(cond.key);
      if (typeof v !== "string") return false;
      return globRegex(cond.pattern, cond.key === "content.body").test(v);
    }
    case "event_property_is": {
      if (cond.key === undefined) return false;
      const v = flat.get(cond.key);
      return !Array.isArray(v) && strictEquals(v, cond.value as Scalar | undefined);
    }
    case "event_property_contains": {
      if (cond.key === undefined) return false;
      const v = flat.get(cond.key);
      return Array.isArray(v) && v.some((x) => strictEquals(x, cond.value as Scalar | undefined));
    }
    case "contains_display_name": {
      const body = flat.get("content.body");
      if (typeof body !== "string" || !ctx.displayName) return false;
      return literalWordRegex(ctx.displayName).test(body);
    }
    case "room_member_count":
      return matchMemberCount(cond.is, ctx.memberCount);
    case "sender_notification_permission": {
      if (cond.key === undefined) return false;
      const required = ctx.notificationLevels[cond.key] ?? 50;
      return ctx.senderPowerLevel >= required;
    }
    default:
      // An unknown condition never matches, which disables its rule (spec).
      return false;
  }
}

/** The display name taken literally (it may hold glob or regex characters), at word boundaries. */
const wordRegexCache = new Map<string, RegExp>();

function literalWordRegex(name: string): RegExp {
  let re = wordRegexCache.get(name);
  if (re) return re;
  const escaped = name.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  re = new RegExp(`(?:^|\\W|\\b)${escaped}(?:\\b|\\W|$)`, "is");
  if (wordRegexCache.size > 5000) wordRegexCache.clear();
  wordRegexCache.set(name, re);
  return re;
}

/** Flattened events, kept while the event object lives (one event is evaluated for every member). */
const flatCache = new WeakMap<Record<string, unknown>, Map<string, Scalar | Scalar[]>>();

function flattenCached(event: Record<string, unknown>): Map<string, Scalar | Scalar[]> {
  let flat = flatCache.get(event);
  if (!flat) {
    flat = flattenEvent(event);
    flatCache.set(event, flat);
  }
  return flat;
}

function ruleMatches(
  kind: (typeof PUSH_RULE_KINDS)[number],
  rule: PushRule,
  event: Record<string, unknown>,
  flat: Map<string, Scalar | Scalar[]>,
  ctx: PushContext,
  hasMentions: boolean,
): boolean {
  if (!rule.enabled) return false;
  if (hasMentions && LEGACY_MENTION_RULES.has(rule.rule_id)) return false;
  switch (kind) {
    case "content": {
      const body = flat.get("content.body");
      return (
        typeof body === "string" && rule.pattern !== undefined && globRegex(rule.pattern, true).test(body)
      );
    }
    case "room":
      return event.room_id === rule.rule_id;
    case "sender":
      return event.sender === rule.rule_id;
    default: {
      for (const c of rule.conditions ?? []) {
        try {
          if (!matchCondition(c, flat, ctx)) return false;
        } catch {
          return false;
        }
      }
      return true;
    }
  }
}

/** The outcome of evaluating a user's rules against one event. */
export type PushOutcome = {
  notify: boolean;
  highlight: boolean;
  actions: PushAction[];
  ruleId: string | null;
};

/**
 * Evaluates a ruleset (already merged: user rules before defaults within each kind, master first)
 * against an event. The first enabled matching rule wins; no match means no notification. A user
 * is never notified about their own events.
 */
export function evaluatePushRules(
  ruleset: PushRuleset,
  event: Record<string, unknown>,
  ctx: PushContext,
): PushOutcome {
  const none: PushOutcome = { notify: false, highlight: false, actions: [], ruleId: null };
  if (event.sender === ctx.userId) return none;
  const flat = flattenCached(event);
  const content = event.content;
  const hasMentions =
    content !== null && typeof content === "object" && Object.hasOwn(content as object, "m.mentions");
  for (const kind of PUSH_RULE_KINDS) {
    for (const rule of ruleset[kind]) {
      if (!ruleMatches(kind, rule, event, flat, ctx, hasMentions)) continue;
      const actions = rule.actions.filter((a) => a !== "dont_notify" && a !== "coalesce");
      const notify = actions.includes("notify");
      const hl = actions.find(
        (a): a is { set_tweak: string; value?: unknown } =>
          typeof a === "object" && a.set_tweak === "highlight",
      );
      const highlight = notify && hl !== undefined && (hl.value === undefined || hl.value === true);
      return { notify, highlight, actions, ruleId: rule.rule_id };
    }
  }
  return none;
}
