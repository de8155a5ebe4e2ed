import type { NovaContext } from "../context.ts";
import type { AccountDataService } from "./account-data.ts";
import type { PushRulesService } from "./push-rules/push-rules.ts";
import { PUSH_RULE_KINDS, type PushCondition } from "./push-rules/types.ts";

/**
 * When a room is upgraded, each local member's settings for it follow them to the replacement
 * (Synapse's copy_user_state_on_room_upgrade): the push rules about the room, its tags, and its
 * place in m.direct. The old room's settings stay.
 */
export function copySettingsOnRoomUpgrade(
  ctx: NovaContext,
  pushRules: PushRulesService,
  accountData: AccountDataService,
): void {
  ctx.hooks.on("roomUpgraded", async ({ oldRoomId, newRoomId, userIds }) => {
    for (const userId of userIds) {
      try {
        await copyPushRules(pushRules, userId, oldRoomId, newRoomId);
        await copyTags(accountData, userId, oldRoomId, newRoomId);
        await copyDirect(accountData, userId, oldRoomId, newRoomId);
      } catch (err) {
        // One user's settings failing to copy must not stop the others'.
        ctx.logger.error({ err, userId, oldRoomId }, "copying settings to the upgraded room failed");
      }
    }
  });
}

/**
 * The user's enabled rules about the old room: room rules (their id is the room id) and rules whose
 * conditions match its room_id. Copies take the new room's id, as Synapse names them.
 */
async function copyPushRules(
  pushRules: PushRulesService,
  userId: string,
  oldRoomId: string,
  newRoomId: string,
): Promise<void> {
  const ruleset = await pushRules.ruleset(userId);
  for (const kind of PUSH_RULE_KINDS) {
    for (const rule of ruleset[kind]) {
      if (rule.default || !rule.enabled) continue;
      if (kind === "room") {
        if (rule.rule_id === oldRoomId)
          await pushRules.putRule(userId, "room", newRoomId, { actions: rule.actions });
        continue;
      }
      const conditions = rule.conditions ?? [];
      const aboutRoom = (c: PushCondition) => c.key === "room_id" && c.pattern === oldRoomId;
      if (!conditions.some(aboutRoom)) continue;
      await pushRules.putRule(userId, kind, newRoomId, {
        actions: rule.actions,
        conditions: conditions.map((c) => (aboutRoom(c) ? { ...c, pattern: newRoomId } : c)),
        pattern: rule.pattern,
      });
    }
  }
}

async function copyTags(
  accountData: AccountDataService,
  userId: string,
  oldRoomId: string,
  newRoomId: string,
): Promise<void> {
  const tags = await accountData.get(userId, oldRoomId, "m.tag");
  if (tags !== undefined) await accountData.set(userId, newRoomId, "m.tag", tags);
}

/** A direct chat stays one: the replacement joins the old room's entries in m.direct. */
async function copyDirect(
  accountData: AccountDataService,
  userId: string,
  oldRoomId: string,
  newRoomId: string,
): Promise<void> {
  const direct = await accountData.get(userId, null, "m.direct");
  if (!direct || typeof direct !== "object" || Array.isArray(direct)) return;
  const updated: Record<string, unknown> = { ...(direct as Record<string, unknown>) };
  let changed = false;
  for (const [peer, rooms] of Object.entries(updated)) {
    if (Array.isArray(rooms) && rooms.includes(oldRoomId) && !rooms.includes(newRoomId)) {
      updated[peer] = [...rooms, newRoomId];
      changed = true;
    }
  }
  if (changed) await accountData.set(userId, null, "m.direct", updated);
}
