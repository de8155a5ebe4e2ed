import type { RequiredStatePair } from "./schema.ts";

const WILDCARD = "*";
const LAZY = "$LAZY";
const ME = "$ME";

/**
 * A room's effective `required_state` (MSC4186 tuple format), normalised: `$ME` is the user's id,
 * `["m.room.member","$LAZY"]` turns lazy members on, `["*","*"]` is all state. Several configs
 * for one room (lists, a subscription) combine into their union; over-returning is allowed, as
 * Synapse does for `["*","*"]` beside other entries.
 */
export type StateConfig = {
  all: boolean;
  /** Per type: the state keys wanted, or "*" for every key. */
  types: Map<string, Set<string> | typeof WILDCARD>;
  /** State keys wanted whatever the type (`["*", key]`). */
  anyType: Set<string>;
  lazyMembers: boolean;
};

export function emptyConfig(): StateConfig {
  return { all: false, types: new Map(), anyType: new Set(), lazyMembers: false };
}

export function parseRequiredState(
  pairs: readonly RequiredStatePair[] | undefined,
  userId: string,
): StateConfig {
  const c = emptyConfig();
  for (const pair of pairs ?? []) {
    const type = pair[0];
    const key = pair[1] === ME ? userId : pair[1];
    if (type === WILDCARD && key === WILDCARD) c.all = true;
    else if (type === "m.room.member" && key === LAZY) c.lazyMembers = true;
    else if (type === WILDCARD) c.anyType.add(key);
    else addKey(c, type, key);
  }
  return c;
}

function addKey(c: StateConfig, type: string, key: string): void {
  const have = c.types.get(type);
  if (have === WILDCARD) return;
  if (key === WILDCARD) c.types.set(type, WILDCARD);
  else if (have) have.add(key);
  else c.types.set(type, new Set([key]));
}

export function mergeConfigs(a: StateConfig, b: StateConfig): StateConfig {
  const c = emptyConfig();
  c.all = a.all || b.all;
  c.lazyMembers = a.lazyMembers || b.lazyMembers;
  for (const src of [a, b]) {
    for (const k of src.anyType) c.anyType.add(k);
    for (const [type, keys] of src.types) {
      if (keys === WILDCARD) addKey(c, type, WILDCARD);
      else for (const k of keys) addKey(c, type, k);
    }
  }
  return c;
}

export function wantsState(c: StateConfig, type: string, stateKey: string): boolean {
  if (c.all || c.anyType.has(stateKey)) return true;
  const keys = c.types.get(type);
  return keys === WILDCARD || keys?.has(stateKey) === true;
}

/** A canonical string for a config: equal configs give equal keys (stored per connection). */
export function configKey(c: StateConfig): string {
  const types = [...c.types.entries()]
    .map(([t, keys]) => [t, keys === WILDCARD ? WILDCARD : [...keys].sort()] as const)
    .sort((x, y) => (x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : 0));
  return JSON.stringify([c.all ? 1 : 0, c.lazyMembers ? 1 : 0, [...c.anyType].sort(), types]);
}

export function configFromKey(key: string): StateConfig {
  const [all, lazy, anyType, types] = JSON.parse(key) as [
    number,
    number,
    string[],
    [string, string | string[]][],
  ];
  const c = emptyConfig();
  c.all = all === 1;
  c.lazyMembers = lazy === 1;
  for (const k of anyType) c.anyType.add(k);
  for (const [t, keys] of types) c.types.set(t, keys === WILDCARD ? WILDCARD : new Set(keys as string[]));
  return c;
}

/**
 * Whether `next` asks for state `prev` did not: the room is sent at once with the newly wanted
 * state (MSC4186 "Changing room configs"; synapse#19713).
 */
export function configGrew(prev: StateConfig, next: StateConfig): boolean {
  if (next.all && !prev.all) return true;
  if (prev.all) return false;
  if (next.lazyMembers && !prev.lazyMembers) return true;
  for (const k of next.anyType) if (!prev.anyType.has(k)) return true;
  for (const [type, keys] of next.types) {
    const had = prev.types.get(type);
    if (had === WILDCARD) continue;
    if (keys === WILDCARD) return true;
    for (const k of keys) if (!had?.has(k) && !prev.anyType.has(k)) return true;
  }
  return false;
}
