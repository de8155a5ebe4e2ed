import { z } from "zod";

export const PUSH_RULE_KINDS = ["override", "content", "room", "sender", "underride"] as const;
export type PushRuleKind = (typeof PUSH_RULE_KINDS)[number];

/** A push condition as stored; unknown kinds are kept (and never match). */
export const pushConditionSchema = z
  .object({
    kind: z.string().min(1),
    key: z.string().optional(),
    pattern: z.string().optional(),
    value: z.union([z.string(), z.number(), z.boolean(), z.null()]).optional(),
    is: z.string().optional(),
  })
  .passthrough();
export type PushCondition = z.infer<typeof pushConditionSchema>;

/**
 * Actions accepted on PUT (Synapse's check_actions): "notify", the historical "dont_notify" /
 * "coalesce", or a set_tweak object.
 */
export const pushActionSchema = z.union([
  z.enum(["notify", "dont_notify", "coalesce"]),
  z.object({ set_tweak: z.string().min(1), value: z.unknown().optional() }).passthrough(),
]);
export type PushAction = z.infer<typeof pushActionSchema>;

export type PushRule = {
  rule_id: string;
  default: boolean;
  enabled: boolean;
  actions: PushAction[];
  conditions?: PushCondition[];
  pattern?: string;
};

export type PushRuleset = Record<PushRuleKind, PushRule[]>;
