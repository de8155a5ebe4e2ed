import { z } from "zod";
import { fromZod, MatrixError, unrecognized } from "../../../companion-services/platform/errors.ts";
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

/** Synapse's answer to a push-rules path it does not serve (`UnrecognizedRequestError`): 400, not 404. */
const unrecognizedPath = (msg = "Unrecognized request") => new MatrixError(400, "M_UNRECOGNIZED", msg);
const TRAILING_SLASH = "Push rule paths of a scope or a kind end in a slash";

/** The rule id of a `/pushrules/global/{kind}/{ruleId}` path; an empty one is a missing rule id. */
function ruleIdOf(req: Request): string {
  const ruleId = req.params.ruleId!;
  if (ruleId === "") throw unrecognizedPath("Missing rule_id");
  return ruleId;
}

function attribute(req: Request): "enabled" | "actions" {
  const attr = req.params.attr;
  if (attr !== "enabled" && attr !== "actions")
    throw new MatrixError(400, "M_UNRECOGNIZED", "Unknown attribute");
  return attr;
}

/** Mounts the push-rules API (spec §"Push Rules: API"). */
export function mountPushRuleRoutes(router: Router, pushRules: PushRulesService): void {
  // Paths as Synapse serves them: `/pushrules` without its slash is no route (404); a scope or a
  // kind without its trailing slash, or a rule path without a rule id, is a 400 M_UNRECOGNIZED.
  router.get(`${BASE}/`, async (req) => ({ body: { global: await pushRules.ruleset(req.auth!.userId) } }));
  router.get(`${BASE}/:scope/`, async (req) => {
    if (req.params.scope !== "global") throw unrecognizedPath("Unknown scope");
    return { body: await pushRules.ruleset(req.auth!.userId) };
  });
  router.get(`${BASE}/:scope`, async () => {
    throw unrecognizedPath(TRAILING_SLASH);
  });
  router.get(`${BASE}/:scope/:kind`, async (req) => {
    scopeAndKind(req);
    throw unrecognizedPath(TRAILING_SLASH);
  });

  // `/pushrules/global/{kind}/` lists one kind (Synapse serves it; clients use the full set).
  router.get(`${BASE}/:scope/:kind/`, async (req) => {
    const kind = scopeAndKind(req);
    return { body: (await pushRules.ruleset(req.auth!.userId))[kind] };
  });

  router.get(`${BASE}/:scope/:kind/:ruleId`, async (req) => {
    const kind = scopeAndKind(req);
    return { body: await pushRules.rule(req.auth!.userId, kind, ruleIdOf(req)) };
  });

  router.put(`${BASE}/:scope/:kind/:ruleId`, async (req) => {
    const kind = scopeAndKind(req);
    const ruleId = ruleIdOf(req);
    const body = req.json(putRuleBody);
    const before = req.query.get("before") ?? undefined;
    const after = req.query.get("after") ?? undefined;
    await pushRules.putRule(req.auth!.userId, kind, ruleId, { ...body, before, after });
    return { body: {} };
  });

  router.delete(`${BASE}/:scope/:kind/:ruleId`, async (req) => {
    const kind = scopeAndKind(req);
    await pushRules.deleteRule(req.auth!.userId, kind, ruleIdOf(req));
    return { body: {} };
  });

  router.get(`${BASE}/:scope/:kind/:ruleId/:attr`, async (req) => {
    const kind = scopeAndKind(req);
    const attr = attribute(req);
    const rule = await pushRules.rule(req.auth!.userId, kind, ruleIdOf(req));
    return { body: attr === "enabled" ? { enabled: rule.enabled } : { actions: rule.actions } };
  });

  router.put(`${BASE}/:scope/:kind/:ruleId/:attr`, async (req) => {
    const kind = scopeAndKind(req);
    const ruleId = ruleIdOf(req);
    const attr = attribute(req);
    if (attr === "enabled") {
      const parsed = enabledBody.safeParse(req.anyJson());
      if (!parsed.success) throw fromZod(parsed.error);
      await pushRules.setAttribute(req.auth!.userId, kind, ruleId, { enabled: parsed.data.enabled });
    } else {
      const parsed = actionsBody.safeParse(req.anyJson());
      if (!parsed.success) throw fromZod(parsed.error);
      await pushRules.setAttribute(req.auth!.userId, kind, ruleId, { actions: parsed.data.actions });
    }
    return { body: {} };
  });

  // Anything else under `/pushrules/` (no scope, no kind, no rule id, a path too deep): Synapse
  // answers 400 M_UNRECOGNIZED, not 404 or 405. `/pushrules` itself is no route of Synapse's.
  for (const method of ["GET", "PUT", "DELETE"] as const) {
    router.add(method, `${BASE}/*rest`, async (req) => {
      if (req.path.replace(/\?.*$/, "").endsWith("/pushrules")) throw unrecognized();
      throw unrecognizedPath();
    });
  }
}
