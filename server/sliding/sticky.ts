import type { ConnectionState, StickyParams } from "./connection-state.ts";
import type { RoomSubscription, SlidingList, SlidingSyncBody } from "./schema.ts";

/**
 * The request as the connection means it. Element X (ruma) sends every list parameter and the
 * whole subscription set on every request, and that is what it gets. matrix-js-sdk — Element
 * Web's client — follows MSC3575's sticky parameters: a list's `filters`, `timeline_limit` and
 * `required_state` only when they change, new room subscriptions once and removals in
 * `unsubscribe_rooms`. A connection that leaves a known list's parameters out, or names
 * `unsubscribe_rooms`, is taken for such a client from then on: absent list parameters keep
 * their last value and subscriptions last until unsubscribed.
 */
export function applySticky(
  body: SlidingSyncBody,
  from: ConnectionState | null,
): { body: SlidingSyncBody; params: StickyParams } {
  const prev = from?.params;
  const lists: Record<string, SlidingList> = {};
  let sticky = prev?.sticky === true || Array.isArray(body.unsubscribe_rooms);
  for (const [name, list] of Object.entries(body.lists ?? {})) {
    const had = prev?.lists[name];
    if (had && list.timeline_limit === undefined && list.required_state === undefined) sticky = true;
    lists[name] = had ? { ...had, ...defined(list) } : list;
  }
  let subscriptions: Record<string, RoomSubscription> = { ...(body.room_subscriptions ?? {}) };
  if (sticky) {
    subscriptions = { ...(prev?.subscriptions ?? {}), ...subscriptions };
    for (const id of body.unsubscribe_rooms ?? []) delete subscriptions[id];
  }
  const storedLists: StickyParams["lists"] = {};
  for (const [name, { ranges: _r, ...rest }] of Object.entries(lists)) storedLists[name] = rest;
  return {
    body: { ...body, lists, room_subscriptions: subscriptions },
    params: { lists: storedLists, subscriptions, sticky },
  };
}

function defined<T extends Record<string, unknown>>(o: T): Partial<T> {
  const out: Partial<T> = {};
  for (const [k, v] of Object.entries(o)) if (v !== undefined) (out as Record<string, unknown>)[k] = v;
  return out;
}
