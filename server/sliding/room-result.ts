import type { Logger } from "../../companion-services/platform/logger.ts";
import {
  type ClientEvent,
  normalizeRow,
  STRIPPED_STATE_TYPES,
  strippedState,
  toClientEvent,
  type Viewer,
} from "../rooms/client-events.ts";
import { hiddenByIgnore } from "../rooms/ignored-users.ts";
import { formatRoomToken } from "../rooms/pagination.ts";
import type { RoomSnapshot } from "../rooms/room-snapshot.ts";
import type { RoomsApi } from "../rooms/service.ts";
import type { EventRow } from "../rooms/storage/rows.ts";
import { type ConnectionState, cursorsOf, MAX_LAZY_REMEMBERED, type RoomCursor } from "./connection-state.ts";
import { roomFailures } from "./metrics.ts";
import { configFromKey, configGrew, type StateConfig, wantsState } from "./required-state.ts";
import type { ListedRoom } from "./room-list.ts";
import { BUMP_EVENT_TYPES, roomMeta, stateEventJson } from "./room-meta.ts";

/** One room of the window with the config the lists and subscriptions that hold it combine to. */
export type RoomPlan = { room: ListedRoom; limit: number; config: StateConfig; configIndex: number };

export type BuiltRoom = {
  /** The room's entry in `rooms`, null when there is nothing to send for it. */
  json: Record<string, unknown> | null;
  cursor: RoomCursor;
  /** Event ids of the timeline sent, when the room went down `initial`. */
  initialTimeline: string[] | null;
};

export type BuildContext = {
  userId: string;
  viewer: Viewer;
  from: ConnectionState | null;
  to: number;
  ignored: ReadonlySet<string>;
  logger: Logger;
  direct: ReadonlySet<string>;
  unreadCounts(
    roomIds: string[],
  ): Promise<Map<string, { notification_count: number; highlight_count: number }>>;
};

type Decided = {
  plan: RoomPlan;
  snap: RoomSnapshot | null;
  prev: RoomCursor | undefined;
  since: number | null;
  initial: boolean;
  expanded: boolean;
  stateGrew: boolean;
  /** Timeline lower bound (exclusive) and upper bound (inclusive). */
  lower: number;
  upper: number;
};

const JOINED = "join";
const FAILED = Symbol("failed");
const BUMP_TYPES: ReadonlySet<string> = new Set(BUMP_EVENT_TYPES);

/** Builds the `rooms` entries of one response (checklist §4, §5.4–5.6). */
export class RoomResults {
  constructor(private readonly rooms: RoomsApi) {}

  /**
   * A room whose result fails is left out with its previous cursor (so it is tried again next
   * time) instead of failing the response: clients retry a failed request forever (checklist §9).
   */
  async build(plans: RoomPlan[], ctx: BuildContext): Promise<Map<string, BuiltRoom>> {
    const out = new Map<string, BuiltRoom>();
    const decided: Decided[] = [];
    // Independent per room (snapshots may need loading): together, so a cold start waits once.
    const decisions = await Promise.all(
      plans.map((plan) => this.isolated(plan, ctx, () => this.decide(plan, ctx))),
    );
    for (const [i, plan] of plans.entries()) {
      const d = decisions[i]!;
      if (d === FAILED) continue;
      if (d) decided.push(d);
      else out.set(plan.room.roomId, { json: null, cursor: keep(ctx.from, plan), initialTimeline: null });
    }
    const timelines = await this.timelines(decided);
    const joinedIds = decided.filter((d) => d.plan.room.membership === JOINED).map((d) => d.plan.room.roomId);
    // One query for every room's visibility, not two per room: a first response has 20 of them.
    const checked = decided
      .filter((d) => needsVisibility(d, timelines.get(d.plan.room.roomId) ?? []))
      .map((d) => d.plan.room.roomId);
    const [bumps, counts, visibility] = await Promise.all([
      this.bumpStamps(joinedIds, timelines, ctx.to),
      ctx.unreadCounts(joinedIds),
      checked.length > 0
        ? this.rooms.reads.sync.visibilityMany(ctx.userId, checked)
        : new Map<string, (row: EventRow) => boolean>(),
    ]);
    const now = Date.now();
    const bundles: { roomId: string; oldest: number; events: ClientEvent[] }[] = [];
    for (const d of decided) {
      const { room } = d.plan;
      const visible = visibility.get(room.roomId) ?? everything;
      const built = await this.isolated(d.plan, ctx, () =>
        this.room(d, timelines.get(room.roomId) ?? [], visible, ctx, now),
      );
      if (built === FAILED) continue;
      const shown = (timelines.get(room.roomId) ?? []).slice(0, d.plan.limit);
      const events = built.json?.timeline as ClientEvent[] | undefined;
      if (events)
        bundles.push({ roomId: room.roomId, oldest: shown[shown.length - 1]?.stream_position ?? 0, events });
      if (built.json && room.membership === JOINED) {
        const c = counts.get(room.roomId);
        built.json.notification_count = c?.notification_count ?? 0;
        built.json.highlight_count = c?.highlight_count ?? 0;
        built.json.bump_stamp = Math.max(0, bumps.get(room.roomId) ?? room.membershipPosition);
      } else if (built.json) {
        built.json.bump_stamp = Math.max(0, room.membershipPosition);
      }
      if (built.json && ctx.direct.has(room.roomId)) built.json.is_dm = true;
      out.set(room.roomId, built);
    }
    // Server-side aggregations (threads, edits, references) of every timeline, in one query.
    await this.rooms.reads.sync.bundleTimelines(ctx.viewer, bundles);
    return out;
  }

  private async isolated<T>(
    plan: RoomPlan,
    ctx: BuildContext,
    fn: () => Promise<T>,
  ): Promise<T | typeof FAILED> {
    try {
      return await fn();
    } catch (err) {
      roomFailures.inc();
      ctx.logger.error({ err, roomId: plan.room.roomId }, "sliding sync: room left out of the response");
      return FAILED;
    }
  }

  /**
   * Each room's newest bump event at or below `to`: the newest one among the timeline rows just
   * read (newest first, so the first bump there is the room's newest), else from the database.
   */
  private async bumpStamps(
    roomIds: string[],
    timelines: Map<string, EventRow[]>,
    to: number,
  ): Promise<Map<string, number>> {
    const out = new Map<string, number>();
    const ask: string[] = [];
    for (const id of roomIds) {
      const bump = timelines.get(id)?.find((r) => BUMP_TYPES.has(r.type));
      if (bump) out.set(id, bump.stream_position);
      else ask.push(id);
    }
    for (const [id, p] of await this.rooms.reads.sync.lastPositions(ask, to, BUMP_EVENT_TYPES))
      out.set(id, p);
    return out;
  }

  /** Whether the room goes down in this response, and how (null: nothing to send). */
  private async decide(plan: RoomPlan, ctx: BuildContext): Promise<Decided | null> {
    const { room } = plan;
    const prev = ctx.from?.rooms[room.roomId];
    const since = ctx.from ? (cursorsOf(ctx.from, room.roomId)?.stream ?? null) : null;
    const membershipChanged = !prev || prev.m !== room.membership;
    const snap = await this.rooms.snapshot(room.roomId);
    if (room.membership !== JOINED) {
      if (!membershipChanged && since !== null && room.membershipPosition <= since) return null;
      const lower = membershipChanged && prev?.m !== JOINED ? 0 : (since ?? 0);
      return {
        plan,
        snap,
        prev,
        since,
        initial: !prev,
        expanded: false,
        stateGrew: true,
        lower,
        upper: room.membershipPosition,
      };
    }
    const initial = membershipChanged;
    const prevConfig = prev && ctx.from ? configFromKey(ctx.from.configs[prev.r] ?? "[0,0,[],[]]") : null;
    const stateGrew = !initial && prevConfig !== null && configGrew(prevConfig, plan.config);
    const expanded = !initial && prev !== undefined && plan.limit > prev.l;
    const news = since === null || room.activity > since;
    if (!initial && !news && !stateGrew && !expanded) return null;
    return {
      plan,
      snap,
      prev,
      since,
      initial,
      expanded,
      stateGrew,
      lower: initial || expanded ? 0 : (since ?? 0),
      upper: ctx.to,
    };
  }

  /** Newest events first, one more than the limit (to tell `limited`), batched by bounds. */
  private async timelines(decided: Decided[]): Promise<Map<string, EventRow[]>> {
    const groups = new Map<string, Decided[]>();
    for (const d of decided) {
      if (d.plan.limit === 0 || d.plan.room.membership === "invite" || d.plan.room.membership === "knock")
        continue;
      const key = `${d.lower}:${d.upper}:${d.plan.limit}`;
      const g = groups.get(key) ?? [];
      g.push(d);
      groups.set(key, g);
    }
    const out = new Map<string, EventRow[]>();
    for (const g of groups.values()) {
      const { lower, upper, plan } = g[0]!;
      const ids = g.map((d) => d.plan.room.roomId);
      const rows = await this.rooms.reads.sync.timelines(ids, lower, upper, plan.limit + 1, {}, false);
      for (const [k, v] of rows) out.set(k, v);
    }
    return out;
  }

  private async room(
    d: Decided,
    newestFirst: EventRow[],
    visible: (row: EventRow) => boolean,
    ctx: BuildContext,
    now: number,
  ): Promise<BuiltRoom> {
    const { room, limit, config } = d.plan;
    const cursor: RoomCursor = { v: 1, l: limit, r: d.plan.configIndex, m: room.membership };
    if (room.membership === "invite" || room.membership === "knock") {
      const state = await this.rooms.reads.sync.stateAt(room.roomId, room.membershipPosition, [
        ...STRIPPED_STATE_TYPES,
        "m.room.member",
      ]);
      const events = state
        .filter((r) => r.type !== "m.room.member" || r.state_key === ctx.userId)
        .map((r) => strippedState(normalizeRow(r)));
      const json: Record<string, unknown> = { invite_state: events };
      if (d.initial) json.initial = true;
      const name = d.snap?.get("m.room.name", "")?.pdu.content.name;
      if (typeof name === "string" && name !== "") json.name = name;
      return { json, cursor, initialTimeline: null };
    }

    const limited = newestFirst.length > limit;
    const rows = newestFirst.slice(0, limit).reverse();
    const kept = rows.filter((r) => visible(r) && !hiddenByIgnore(r, ctx.ignored));
    const timeline = kept.map((r) => toClientEvent(r, ctx.viewer, now));
    const fromStream = ctx.from?.stream ?? null;
    const numLive = fromStream === null ? 0 : kept.filter((r) => r.stream_position > fromStream).length;

    const requiredState = this.requiredState(d, config, kept, limited, ctx, now);
    const sentLazy = new Set(d.initial ? [] : (d.prev?.z ?? []));
    for (const e of requiredState)
      if (e.type === "m.room.member" && config.lazyMembers) sentLazy.add(String(e.state_key));
    if (config.lazyMembers && sentLazy.size > 0) cursor.z = [...sentLazy].slice(-MAX_LAZY_REMEMBERED);

    const json: Record<string, unknown> = {};
    if (d.initial) json.initial = true;
    if (d.snap) Object.assign(json, roomMeta(d.snap, ctx.userId, d.initial ? null : d.since, ctx.to));
    if (d.plan.limit > 0 || timeline.length > 0) {
      json.timeline = timeline;
      json.prev_batch = formatRoomToken(rows.length > 0 ? rows[0]!.stream_position - 1 : d.upper);
      if (limited) json.limited = true;
      if (numLive > 0) json.num_live = numLive;
    }
    if (d.expanded) json.unstable_expanded_timeline = true;
    if (requiredState.length > 0) json.required_state = requiredState;
    const hasContent =
      d.initial ||
      timeline.length > 0 ||
      requiredState.length > 0 ||
      Object.keys(json).some((k) => META.has(k));
    return {
      json: hasContent ? json : null,
      cursor,
      initialTimeline: d.initial ? timeline.map((e) => e.event_id) : null,
    };
  }

  /**
   * Current state matching the config (all of it when the room is new to the connection or the
   * config grew, else what changed after the room's cursor), and lazy members: the senders of
   * the timeline not sent before, and on a gapless delta every membership change (MSC4186).
   */
  private requiredState(
    d: Decided,
    config: StateConfig,
    timeline: EventRow[],
    limited: boolean,
    ctx: BuildContext,
    now: number,
  ): Record<string, unknown>[] {
    const snap = d.snap;
    if (!snap) return [];
    const upto = d.upper;
    const full = d.initial || d.stateGrew || d.plan.room.membership !== JOINED;
    const after = full ? -1 : (d.since ?? -1);
    const out: Record<string, unknown>[] = [];
    const seen = new Set<string>();
    const push = (type: string, key: string) => {
      const e = snap.get(type, key);
      if (!e || e.position > upto || seen.has(e.eventId)) return;
      seen.add(e.eventId);
      out.push(stateEventJson(e, now));
    };
    for (const e of snap.state.values()) {
      const key = e.pdu.state_key ?? "";
      if (e.position <= after || e.position > upto) continue;
      if (wantsState(config, e.pdu.type, key)) push(e.pdu.type, key);
      else if (config.lazyMembers && e.pdu.type === "m.room.member" && !full && !limited)
        push(e.pdu.type, key);
    }
    // Left and banned rooms always carry the user's own member event: clients infer the membership from it.
    if (d.plan.room.membership !== JOINED) push("m.room.member", ctx.userId);
    if (config.lazyMembers) {
      const sent = new Set(d.initial ? [] : (d.prev?.z ?? []));
      // A member sent before whose member event changed since (a new display name across a gap)
      // is sent again: the client's copy is stale.
      const want = (user: string) => {
        const e = snap.get("m.room.member", user);
        return !sent.has(user) || (e !== undefined && e.position > (d.since ?? -1));
      };
      for (const r of timeline) {
        if (want(r.sender)) push("m.room.member", r.sender);
        if (r.type === "m.room.member" && r.state_key && want(r.state_key))
          push("m.room.member", r.state_key);
      }
    }
    return out;
  }
}

/** A timeline that may reach before what the connection had is filtered by history visibility. */
/**
 * History visibility matters for events the user may not have been in the room for. A joined
 * user whose join event is older than every event of the timeline was in the room for all of
 * them (any later membership change would be their current membership event): nothing to check.
 */
function needsVisibility(d: Decided, newestFirst: readonly EventRow[]): boolean {
  const m = d.plan.room.membership;
  if (m === "invite" || m === "knock") return false;
  if (!(d.initial || d.expanded || m !== JOINED)) return false;
  const oldest = newestFirst[Math.min(newestFirst.length, d.plan.limit) - 1];
  return !(m === JOINED && (oldest === undefined || d.plan.room.membershipPosition < oldest.stream_position));
}

const everything = () => true;

const META = new Set([
  "name",
  "avatar",
  "heroes",
  "joined_count",
  "invited_count",
  "unstable_expanded_timeline",
]);

/** A room in the window with nothing new keeps its cursor, live from now on, with the current config. */
function keep(from: ConnectionState | null, plan: RoomPlan): RoomCursor {
  const prev = from?.rooms[plan.room.roomId];
  const z = prev?.z;
  return { v: 1, l: plan.limit, r: plan.configIndex, m: plan.room.membership, ...(z ? { z } : {}) };
}
