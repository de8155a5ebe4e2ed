import { z } from "zod";
import { fromZod, MatrixError } from "../../../companion-services/platform/errors.ts";
import type { Request, Router } from "../../../companion-services/platform/http/router.ts";
import type { PushRulesService } from "./push-rules.ts";
import { PUSH_RULE_KINDS, type PushRuleKind, pushActionSchema, pushConditionSchema } from "./types.ts";

const putRuleBody = z.object({
  actions: z.array(pushActionSchema),
  conditions: z.array(pushConditionSchema).optional(),
  pattern: z.string().max(1000).optional(),
});
const enabledBody = z.object({ enabled: z.boolean() });
const actionsBody = z.object({ actions: z.array(pushActionSchema) });

const BASE = "/_matrix/client/v3/pushrules";

function scopeAndKind(req: Request): PushRuleKind {
  if (req.params.scope !== "global") throw new MatrixError(400, "M_INVALID_PARAM", "Unknown scope");
  const kind = req.params.kind as PushRuleKind;
  if (!PUSH_RULE_KINDS.includes(kind)) throw new MatrixError(400, "M_INVALID_PARAM", "Unknown rule kind");
  return kind;
}

function attribute(req: Request): "enabled" | "actions" {
  const attr = req.params.attr;
  if (attr !== "enabled" && attr !== "actions")
    throw new MatrixError(400, "M_UNRECOGNIZED", "Unknown attribute");
  return attr;
}

/** Mounts the push-rules API (spec §"Push Rules: API"). */
export function mountPushRuleRoutes(router: Router, pushRules: PushRulesService): void {
  const all = async (req: Request) => ({ body: { global: await pushRules.ruleset(req.auth!.userId) } });
  router.get(`${BASE}/`, all);
  router.get(BASE, all);
  const scope = async (req: Request) => {
    if (req.params.scope !== "global") throw new MatrixError(400, "M_INVALID_PARAM", "Unknown scope");
    return { body: await pushRules.ruleset(req.auth!.userId) };
  };
  router.get(`${BASE}/:scope/`, scope);
  router.get(`${BASE}/:scope`, scope);

  // `/pushrules/global/{kind}/` lists one kind (Synapse serves it; clients use the full set).
  router.get(`${BASE}/:scope/:kind/`, async (req) => {
    const kind = scopeAndKind(req);
    return { body: (await pushRules.ruleset(req.auth!.userId))[kind] };
  });

  router.get(`${BASE}/:scope/:kind/:ruleId`, async (req) => {
    const kind = scopeAndKind(req);
    return { body: await pushRules.rule(req.auth!.userId, kind, req.params.ruleId!) };
  });

  router.put(`${BASE}/:scope/:kind/:ruleId`, async (req) => {
    const kind = scopeAndKind(req);
    const body = req.json(putRuleBody);
    const before = req.query.get("before") ?? undefined;
    const after = req.query.get("after") ?? undefined;
    await pushRules.putRule(req.auth!.userId, kind, req.params.ruleId!, { ...body, before, after });
    return { body: {} };
  });

  router.delete(`${BASE}/:scope/:kind/:ruleId`, async (req) => {
    const kind = scopeAndKind(req);
    await pushRules.deleteRule(req.auth!.userId, kind, req.params.ruleId!);
    return { body: {} };
  });

  router.get(`${BASE}/:scope/:kind/:ruleId/:attr`, async (req) => {
    const kind = scopeAndKind(req);
    const attr = attribute(req);
    const rule = await pushRules.rule(req.auth!.userId, kind, req.params.ruleId!);
    return { body: attr === "enabled" ? { enabled: rule.enabled } : { actions: rule.actions } };
  });

  router.put(`${BASE}/:scope/:kind/:ruleId/:attr`, async (req) => {
    const kind = scopeAndKind(req);
    const attr = attribute(req);
    if (attr === "enabled") {
      const parsed = enabledBody.safeParse(req.anyJson());
      if (!parsed.success) throw fromZod(parsed.error);
      await pushRules.setAttribute(req.auth!.userId, kind, req.params.ruleId!, {
        enabled: parsed.data.enabled,
      });
    } else {
      const parsed = actionsBody.safeParse(req.anyJson());
      if (!parsed.success) throw fromZod(parsed.error);
      await pushRules.setAttribute(req.auth!.userId, kind, req.params.ruleId!, {
        actions: parsed.data.actions,
      });
    }
    return { body: {} };
  });
}
