import type { StateView } from "./events.ts";
import type { RoomVersionRules } from "./room-versions.ts";

export type PowerLevels = {
  users: Record<string, number>;
  users_default: number;
  events: Record<string, number>;
  events_default: number;
  state_default: number;
  ban: number;
  kick: number;
  redact: number;
  invite: number;
  notifications: Record<string, number>;
};

/**
 * A power level value: an integer, or — before room version 10, which made levels integers only —
 * also a string holding one (spec: "string values that are integers are accepted and parsed").
 */
export function levelValue(v: unknown, allowStrings: boolean): number | undefined {
  if (typeof v === "number") return Number.isSafeInteger(v) ? v : undefined;
  if (allowStrings && typeof v === "string" && /^\s*[+-]?\d+\s*$/.test(v)) {
    const n = Number(v.trim());
    return Number.isSafeInteger(n) ? n : undefined;
  }
  return undefined;
}

function int(v: unknown, fallback: number, allowStrings: boolean): number {
  return levelValue(v, allowStrings) ?? fallback;
}

function intMap(v: unknown, allowStrings: boolean): Record<string, number> {
  const out: Record<string, number> = {};
  if (v && typeof v === "object" && !Array.isArray(v)) {
    for (const [k, x] of Object.entries(v)) {
      const n = levelValue(x, allowStrings);
      if (n !== undefined) out[k] = n;
    }
  }
  return out;
}

/** The room's creator: `content.creator` before v11, the create event's sender from v11. */
export function roomCreator(state: StateView, rules: RoomVersionRules): string | null {
  const create = state.get("m.room.create", "");
  if (!create) return null;
  if (rules.createHasCreator && typeof create.pdu.content.creator === "string")
    return create.pdu.content.creator;
  return create.pdu.sender;
}

/**
 * Effective power levels (spec m.room.power_levels): the event's values with the spec's defaults, or,
 * without a power-levels event, the creator at 100 and everything else at 0 except ban/kick/redact 50.
 */
export function powerLevelsOf(state: StateView, rules: RoomVersionRules): PowerLevels {
  const ev = state.get("m.room.power_levels", "");
  if (!ev) {
    const creator = roomCreator(state, rules);
    return {
      users: creator ? { [creator]: 100 } : {},
      users_default: 0,
      events: {},
      events_default: 0,
      state_default: 0,
      ban: 50,
      kick: 50,
      redact: 50,
      invite: 0,
      notifications: { room: 50 },
    };
  }
  return parsePowerLevels(ev.pdu.content, !rules.integerPowerLevels);
}

/** `allowStrings`: the room version predates integer-only levels (v10), so "50" counts as 50. */
export function parsePowerLevels(c: Record<string, unknown>, allowStrings = false): PowerLevels {
  const notifications = intMap(c.notifications, allowStrings);
  if (notifications.room === undefined) notifications.room = 50;
  return {
    users: intMap(c.users, allowStrings),
    users_default: int(c.users_default, 0, allowStrings),
    events: intMap(c.events, allowStrings),
    events_default: int(c.events_default, 0, allowStrings),
    state_default: int(c.state_default, 50, allowStrings),
    ban: int(c.ban, 50, allowStrings),
    kick: int(c.kick, 50, allowStrings),
    redact: int(c.redact, 50, allowStrings),
    invite: int(c.invite, 0, allowStrings),
    notifications,
  };
}

export function userLevel(pl: PowerLevels, userId: string): number {
  return pl.users[userId] ?? pl.users_default;
}

/** Level needed to send an event of `type` (state or not). */
export function eventLevel(pl: PowerLevels, type: string, isState: boolean): number {
  return pl.events[type] ?? (isState ? pl.state_default : pl.events_default);
}
