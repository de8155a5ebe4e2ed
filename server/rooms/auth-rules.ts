import { forbidden } from "../../companion-services/platform/errors.ts";
import { isValidUserId, serverNameOf } from "../ids.ts";
import { membershipIn, type Pdu, type StateView } from "./events.ts";
import { RESTRICTED_JOIN_RULES, restrictedJoinRefusal } from "./membership/restricted.ts";
import {
  eventLevel,
  levelValue,
  type PowerLevels,
  powerLevelsOf,
  roomCreator,
  userLevel,
} from "./power-levels.ts";
import {
  isSupportedRoomVersion,
  type RoomVersion,
  type RoomVersionRules,
  rulesFor,
} from "./room-versions.ts";
import { thirdPartyInviteRefusal } from "./third-party/signed-invite.ts";

/**
 * Authorization rules of room versions 1–11 (spec "Room version N § Authorization rules"; the
 * differences are the flags of RoomVersionRules), applied against the room's current state — the
 * state before the event, since Nova's rooms have one linear history. Throws 403 M_FORBIDDEN with
 * the failing rule; returns nothing when the event is allowed.
 */
export function authorizeEvent(ev: Pdu, state: StateView, version: RoomVersion): void {
  const rules = rulesFor(version);
  // 1. m.room.create
  if (ev.type === "m.room.create") {
    if (ev.prev_events.length > 0) deny("m.room.create must be the first event");
    if (serverNameOf(ev.room_id) !== serverNameOf(ev.sender)) deny("room id and sender domains differ");
    const rv = ev.content.room_version;
    if (rv !== undefined && (typeof rv !== "string" || !isSupportedRoomVersion(rv))) {
      deny("unsupported room version");
    }
    if (rules.createHasCreator && typeof ev.content.creator !== "string")
      deny("m.room.create needs a creator");
    return;
  }
  // 3. Every other event needs the create event.
  const create = state.get("m.room.create", "");
  if (!create) deny("the room has no m.room.create event");
  // 4. m.federate=false: only the creator's server may take part.
  if (
    create!.pdu.content["m.federate"] === false &&
    serverNameOf(ev.sender) !== serverNameOf(create!.pdu.sender)
  ) {
    deny("room is not federated");
  }
  // 4 (v1–v5 only). m.room.aliases: a server may set the aliases under its own name.
  if (ev.type === "m.room.aliases" && rules.specialCaseAliases) {
    if (ev.state_key === undefined) deny("m.room.aliases needs a state_key");
    if (ev.state_key !== serverNameOf(ev.sender))
      deny("m.room.aliases state_key must be the sender's server");
    return;
  }
  const pl = powerLevelsOf(state, rules);
  const senderLevel = userLevel(pl, ev.sender);

  // 5. m.room.member
  if (ev.type === "m.room.member") {
    authorizeMember(ev, state, pl, roomCreator(state, rules), rules);
    return;
  }
  // 6. The sender must be joined.
  if (membershipIn(state, ev.sender) !== "join") deny(`${ev.sender} is not joined to the room`);
  // 7. m.room.third_party_invite: the invite level, not the state event's level.
  if (ev.type === "m.room.third_party_invite") {
    if (senderLevel < pl.invite) deny("insufficient power level to invite");
    return;
  }
  // 8. The sender needs the event's power level.
  const isState = ev.state_key !== undefined;
  if (senderLevel < eventLevel(pl, ev.type, isState)) deny(`insufficient power level to send ${ev.type}`);
  // 9. A state key starting with @ is reserved for that user.
  if (isState && ev.state_key!.startsWith("@") && ev.state_key !== ev.sender) {
    deny("state_key starting with @ must be the sender's user id");
  }
  // 10. m.room.power_levels
  if (ev.type === "m.room.power_levels") {
    authorizePowerLevels(ev, state, senderLevel, rules);
    return;
  }
  // 11. m.room.redaction (versions ≤ 10): allowed at `redact` level, or for the same domain — event
  // ids of v3+ carry no domain, so that case is decided when the redaction is applied (the redacted
  // event's sender must be the redaction's sender); the rooms service checks it before sending. In
  // v1–v2 every local event has this server's domain, and Synapse then asks the same of the
  // sender, so one check serves all versions.
}

function deny(reason: string): never {
  throw forbidden(reason);
}

function authorizeMember(
  ev: Pdu,
  state: StateView,
  pl: PowerLevels,
  creator: string | null,
  rules: RoomVersionRules,
): void {
  const target = ev.state_key;
  const membership = ev.content.membership;
  if (target === undefined || typeof membership !== "string")
    deny("member event needs state_key and membership");
  if (!isValidUserId(target!)) deny("member state_key must be a user id");
  const sender = ev.sender;
  const senderMembership = membershipIn(state, sender);
  const targetMembership = membershipIn(state, target!);
  const senderLevel = userLevel(pl, sender);
  const targetLevel = userLevel(pl, target!);
  const joinRule = knownJoinRule(stringContent(state, "m.room.join_rules", "join_rule") ?? "invite", rules);

  switch (membership) {
    case "join": {
      // The creator's first join right after the create event.
      const create = state.get("m.room.create", "");
      if (create && ev.prev_events.length === 1 && ev.prev_events[0] === create.eventId && target === creator)
        return;
      if (sender !== target) deny("cannot make another user join");
      if (senderMembership === "ban") deny("user is banned from the room");
      if (joinRule === "invite" || joinRule === "knock") {
        if (senderMembership === "join" || senderMembership === "invite") return;
        deny("room is invite-only");
      }
      if (RESTRICTED_JOIN_RULES.has(joinRule)) {
        if (senderMembership === "join" || senderMembership === "invite") return;
        const refusal = restrictedJoinRefusal(ev.content, state, pl);
        if (refusal) deny(refusal);
        return;
      }
      if (joinRule === "public") return;
      deny("join rule does not allow joining");
      break;
    }
    case "invite": {
      if (ev.content.third_party_invite !== undefined) {
        const refusal = thirdPartyInviteRefusal(ev, state);
        if (refusal) deny(refusal);
        return;
      }
      if (senderMembership !== "join") deny("inviter is not joined to the room");
      if (targetMembership === "ban") deny("invitee is banned");
      if (targetMembership === "join") deny("invitee is already joined");
      if (senderLevel >= pl.invite) return;
      deny("insufficient power level to invite");
      break;
    }
    case "leave": {
      if (sender === target) {
        if (senderMembership === "invite" || senderMembership === "join" || senderMembership === "knock")
          return;
        deny("user is not in the room");
      }
      if (senderMembership !== "join") deny("sender is not joined to the room");
      if (targetMembership === "ban" && senderLevel < pl.ban) deny("insufficient power level to unban");
      if (senderLevel >= pl.kick && targetLevel < senderLevel) return;
      deny("insufficient power level to kick");
      break;
    }
    case "ban": {
      if (senderMembership !== "join") deny("sender is not joined to the room");
      if (senderLevel >= pl.ban && targetLevel < senderLevel) return;
      deny("insufficient power level to ban");
      break;
    }
    case "knock": {
      if (!rules.knockAllowed) deny("this room version does not support knocking");
      if (joinRule !== "knock" && joinRule !== "knock_restricted") deny("room does not allow knocking");
      if (sender !== target) deny("cannot knock for another user");
      if (senderMembership === "ban" || senderMembership === "invite" || senderMembership === "join") {
        deny("user cannot knock from their current membership");
      }
      return;
    }
    default:
      deny(`unknown membership ${String(membership)}`);
  }
}

const PL_LEVEL_KEYS = [
  "users_default",
  "events_default",
  "state_default",
  "ban",
  "redact",
  "kick",
  "invite",
] as const;

function authorizePowerLevels(ev: Pdu, state: StateView, senderLevel: number, rules: RoomVersionRules): void {
  const c = ev.content;
  const strings = !rules.integerPowerLevels;
  // a. Room version 10+: every level is an integer. Before, only `users` is checked, and its
  // values may be strings holding an integer.
  if (rules.integerPowerLevels) {
    for (const k of PL_LEVEL_KEYS) {
      if (c[k] !== undefined && !Number.isInteger(c[k])) deny(`${k} must be an integer`);
    }
  }
  for (const k of rules.integerPowerLevels
    ? (["events", "notifications", "users"] as const)
    : (["users"] as const)) {
    const m = c[k];
    if (m === undefined) continue;
    if (!m || typeof m !== "object" || Array.isArray(m)) deny(`${k} must be an object`);
    for (const [key, v] of Object.entries(m as Record<string, unknown>)) {
      if (levelValue(v, strings) === undefined) deny(`${k}.${key} must be an integer`);
      // b. users keys are user ids.
      if (k === "users" && !isValidUserId(key)) deny(`${key} in users is not a user id`);
    }
  }
  // c. The first power levels event is allowed.
  const prev = state.get("m.room.power_levels", "");
  if (!prev) return;
  const old = prev.pdu.content;
  // d. Changed top-level levels: both old and new must be within the sender's level.
  for (const k of PL_LEVEL_KEYS) {
    const before = levelOrDefault(old, k, strings);
    const after = levelOrDefault(c, k, strings);
    if (before !== after && (before > senderLevel || after > senderLevel)) {
      deny(`insufficient power level to change ${k}`);
    }
  }
  // e. Changed entries of events, and of notifications from room version 6.
  for (const k of rules.notificationsPowerCheck
    ? (["events", "notifications"] as const)
    : (["events"] as const)) {
    const before = asIntMap(old[k], strings);
    const after = asIntMap(c[k], strings);
    for (const key of new Set([...Object.keys(before), ...Object.keys(after)])) {
      const b = before[key];
      const a = after[key];
      if (b === a) continue;
      if ((b !== undefined && b > senderLevel) || (a !== undefined && a > senderLevel)) {
        deny(`insufficient power level to change ${k}.${key}`);
      }
    }
  }
  // f. Changed users: nobody at or above the sender's level except the sender; nobody raised above it.
  const beforeUsers = asIntMap(old.users, strings);
  const afterUsers = asIntMap(c.users, strings);
  for (const user of new Set([...Object.keys(beforeUsers), ...Object.keys(afterUsers)])) {
    const b = beforeUsers[user];
    const a = afterUsers[user];
    if (b === a) continue;
    if (user !== ev.sender && b !== undefined && b >= senderLevel) deny(`cannot change the level of ${user}`);
    if (a !== undefined && a > senderLevel) deny(`cannot raise ${user} above your own level`);
  }
}

const PL_DEFAULTS: Record<(typeof PL_LEVEL_KEYS)[number], number> = {
  users_default: 0,
  events_default: 0,
  state_default: 50,
  ban: 50,
  redact: 50,
  kick: 50,
  invite: 0,
};

function levelOrDefault(
  c: Record<string, unknown>,
  k: (typeof PL_LEVEL_KEYS)[number],
  strings: boolean,
): number {
  return levelValue(c[k], strings) ?? PL_DEFAULTS[k];
}

function asIntMap(v: unknown, strings: boolean): Record<string, number> {
  const out: Record<string, number> = {};
  if (v && typeof v === "object" && !Array.isArray(v)) {
    for (const [k, x] of Object.entries(v)) {
      const n = levelValue(x, strings);
      if (n !== undefined) out[k] = n;
    }
  }
  return out;
}

/**
 * The join rule as this room version understands it: `knock` exists from v7, `restricted` from
 * v8, `knock_restricted` from v10; an earlier version treats them as unknown (nobody may join
 * through them, an invited user included, as the version's own rules read).
 */
function knownJoinRule(rule: string, rules: RoomVersionRules): string {
  if (rule === "knock" && !rules.knockAllowed) return "unknown";
  if (rule === "restricted" && !rules.restrictedAllowed) return "unknown";
  if (rule === "knock_restricted" && !rules.knockRestrictedAllowed) return "unknown";
  return rule;
}

function stringContent(state: StateView, type: string, key: string): string | null {
  const v = state.get(type, "")?.pdu.content[key];
  return typeof v === "string" ? v : null;
}

/** The auth events an event cites (spec "Auth events selection"). */
export function selectAuthEvents(
  ev: Pick<Pdu, "type" | "sender" | "state_key" | "content">,
  state: StateView,
): string[] {
  if (ev.type === "m.room.create") return [];
  const ids: string[] = [];
  const add = (type: string, key: string) => {
    const e = state.get(type, key);
    if (e && !ids.includes(e.eventId)) ids.push(e.eventId);
  };
  add("m.room.create", "");
  add("m.room.power_levels", "");
  add("m.room.member", ev.sender);
  if (ev.type === "m.room.member" && ev.state_key !== undefined) {
    add("m.room.member", ev.state_key);
    const m = ev.content.membership;
    if (m === "join" || m === "invite" || m === "knock") add("m.room.join_rules", "");
    const via = ev.content.join_authorised_via_users_server;
    if (m === "join" && typeof via === "string") add("m.room.member", via);
    const tpi = ev.content.third_party_invite as { signed?: { token?: unknown } } | undefined;
    if (m === "invite" && typeof tpi?.signed?.token === "string")
      add("m.room.third_party_invite", tpi.signed.token);
  }
  return ids;
}
