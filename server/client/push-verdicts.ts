import { userLevel } from "../rooms/power-levels.ts";
import type { PushVerdictPort } from "../rooms/publish.ts";
import type { PushOutcomeMemo } from "./push-outcomes.ts";
import { evaluatePushRules } from "./push-rules/evaluator.ts";
import type { PushRulesService } from "./push-rules/push-rules.ts";

/**
 * Each recipient's verdict on a new event from their push rules — the same evaluator and cached
 * rulesets `unread_notifications` use, so a push and a badge never disagree about what notifies.
 * Each outcome is remembered for the unread counts of the recipients' next syncs.
 */
export function pushVerdictsOf(pushRules: PushRulesService, memo?: PushOutcomeMemo): PushVerdictPort {
  return async (snap, event, recipient) => {
    const ruleset = await pushRules.cachedRuleset(recipient);
    const pl = snap.powerLevels();
    const member = snap.get("m.room.member", recipient)?.pdu.content;
    const outcome = evaluatePushRules(ruleset, event, {
      userId: recipient,
      displayName: typeof member?.displayname === "string" ? member.displayname : null,
      memberCount: snap.count("join"),
      senderPowerLevel: userLevel(pl, event.sender),
      notificationLevels: pl.notifications,
    });
    memo?.remember(event.event_id, recipient, outcome);
    return outcome.notify ? { actions: outcome.actions, highlight: outcome.highlight } : null;
  };
}
