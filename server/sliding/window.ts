import type { ChangeGuardedCache } from "../../sync/changes.ts";
import type { AccountDataService } from "../client/account-data.ts";
import type { RoomsApi } from "../rooms/service.ts";
import { configKey, mergeConfigs, parseRequiredState, type StateConfig } from "./required-state.ts";
import { applyFilters, inRanges, type ListedRoom, type RoomFacts, sortRooms } from "./room-list.ts";
import type { RoomPlan } from "./room-result.ts";
import type { SlidingSyncBody } from "./schema.ts";

/** The lists' counts and rooms, the subscribed rooms, and a plan per room of the window. */
export type Window = {
  counts: Record<string, number>;
  lists: Map<string, string[]>;
  subscriptions: string[];
  plans: RoomPlan[];
  /** Distinct required_state config keys the plans refer to by index. */
  configs: string[];
  direct: ReadonlySet<string>;
};

/** Reads for filters and DM flags, each done at most once per response. */
export function roomFacts(
  rooms: RoomsApi,
  accountData: Pick<AccountDataService, "get" | "forRooms">,
  userId: string,
  listed: readonly ListedRoom[],
  to: number,
  directCache: ChangeGuardedCache<Set<string>>,
): RoomFacts {
  let direct: Promise<Set<string>> | null = null;
  let tags: Promise<Map<string, Set<string>>> | null = null;
  return {
    snapshot: (roomId) => rooms.snapshot(roomId),
    directRooms: () => {
      // Read on every response (is_dm): kept until the user's account data moves.
      direct ??= directCache.get(userId, async () =>
        directRoomIds(await accountData.get(userId, null, "m.direct")),
      );
      return direct;
    },
    tags: async (roomId) => {
      tags ??= accountData
        .forRooms(
          userId,
          listed.map((r) => r.roomId),
          to,
        )
        .then((rows) => {
          const m = new Map<string, Set<string>>();
          for (const r of rows) {
            if (r.type !== "m.tag") continue;
            const t = (r.content as { tags?: unknown } | null)?.tags;
            if (t && typeof t === "object") m.set(r.room_id, new Set(Object.keys(t)));
          }
          return m;
        });
      return (await tags).get(roomId) ?? new Set();
    },
    spaceChildren: async (spaces) => {
      const out = new Set<string>();
      for (const space of spaces) {
        const snap = await rooms.snapshot(space);
        if (!snap) continue;
        for (const e of snap.state.values()) {
          const via = e.pdu.content.via;
          if (e.pdu.type === "m.space.child" && e.pdu.state_key && Array.isArray(via) && via.length > 0)
            out.add(e.pdu.state_key);
        }
      }
      return out;
    },
  };
}

function directRoomIds(content: unknown): Set<string> {
  const out = new Set<string>();
  if (!content || typeof content !== "object") return out;
  for (const ids of Object.values(content as Record<string, unknown>)) {
    if (Array.isArray(ids)) for (const id of ids) if (typeof id === "string") out.add(id);
  }
  return out;
}

/**
 * Applies the request's lists and subscriptions to the user's rooms. A room in several lists or
 * also subscribed gets the largest timeline_limit and the union of the required_state
 * (Synapse's combine_room_sync_config). Subscriptions name only rooms the user has a membership
 * in; others are ignored without a word (no leak).
 */
export async function buildWindow(
  body: SlidingSyncBody,
  userId: string,
  listed: readonly ListedRoom[],
  subscribable: ReadonlyMap<string, ListedRoom>,
  facts: RoomFacts,
): Promise<Window> {
  const counts: Record<string, number> = {};
  const lists = new Map<string, string[]>();
  const configs = new Map<string, { limit: number; config: StateConfig }>();
  const byId = new Map(listed.map((r) => [r.roomId, r] as const));
  const add = (
    roomId: string,
    limit: number | undefined,
    pairs: Parameters<typeof parseRequiredState>[0],
  ) => {
    const config = parseRequiredState(pairs, userId);
    const have = configs.get(roomId);
    configs.set(
      roomId,
      have
        ? { limit: Math.max(have.limit, limit ?? 0), config: mergeConfigs(have.config, config) }
        : { limit: limit ?? 0, config },
    );
  };
  for (const [name, list] of Object.entries(body.lists ?? {})) {
    const sorted = sortRooms(await applyFilters(listed, list.filters, facts));
    counts[name] = sorted.length;
    const ids = inRanges(sorted, list);
    lists.set(name, ids);
    for (const id of ids) add(id, list.timeline_limit, list.required_state);
  }
  const subscriptions: string[] = [];
  for (const [roomId, sub] of Object.entries(body.room_subscriptions ?? {})) {
    if (!subscribable.has(roomId)) continue;
    subscriptions.push(roomId);
    add(roomId, sub.timeline_limit, sub.required_state);
  }
  const keys: string[] = [];
  const index = new Map<string, number>();
  const plans: RoomPlan[] = [];
  for (const [roomId, c] of configs) {
    const key = configKey(c.config);
    let i = index.get(key);
    if (i === undefined) {
      i = keys.length;
      keys.push(key);
      index.set(key, i);
    }
    const room = byId.get(roomId) ?? subscribable.get(roomId)!;
    plans.push({ room, limit: c.limit, config: c.config, configIndex: i });
  }
  return { counts, lists, subscriptions, plans, configs: keys, direct: await facts.directRooms() };
}
