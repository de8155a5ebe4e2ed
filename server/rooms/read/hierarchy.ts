import { createHash } from "node:crypto";
import { forbidden, invalidParam } from "../../../companion-services/platform/errors.ts";
import type { StoredEvent } from "../events.ts";
import type { RoomSnapshot } from "../room-snapshot.ts";
import { roomSummary } from "./summary.ts";

export type HierarchyOptions = {
  suggestedOnly: boolean;
  /** Levels below the root to include; undefined: as deep as the space goes (bounded by MAX_ROOMS). */
  maxDepth: number | undefined;
  limit: number;
  from: string | undefined;
};

/** Most rooms one walk visits: a space of local rooms, walked whole for each page. */
const MAX_ROOMS = 1_000;

/** Join rules under which anyone may look at a room's summary (spec: "room is accessible"). */
const PEEKABLE_JOIN_RULES = new Set(["public", "knock", "knock_restricted"]);

/**
 * `GET /v1/rooms/{roomId}/hierarchy` over local rooms (Nova does not federate): a breadth-first
 * walk of `m.space.child` links from the root, each room listed with its summary and its children's
 * stripped state, skipping rooms the user may not see. Pages are offsets into the walk, bound to
 * the request's parameters so a token cannot be replayed with others (400 M_INVALID_PARAM).
 */
export class SpaceHierarchy {
  constructor(private readonly snapshot: (roomId: string) => Promise<RoomSnapshot | null>) {}

  async walk(userId: string, rootId: string, opts: HierarchyOptions): Promise<Record<string, unknown>> {
    const binding = bindingOf(rootId, opts);
    let offset = 0;
    if (opts.from !== undefined) {
      const m = /^(\d{1,6})_([0-9a-f]{12})$/.exec(opts.from);
      if (!m || m[2] !== binding) throw invalidParam("Unknown or mismatched from token");
      offset = Number(m[1]);
    }
    const root = await this.snapshot(rootId);
    if (!root || !(await this.accessible(userId, root))) {
      throw forbidden("You cannot view this room's hierarchy");
    }
    const rooms: Record<string, unknown>[] = [];
    const seen = new Set<string>([rootId]);
    const queue: { snap: RoomSnapshot; depth: number }[] = [{ snap: root, depth: 0 }];
    while (queue.length > 0 && rooms.length < MAX_ROOMS) {
      const { snap, depth } = queue.shift()!;
      const links = childLinks(snap, opts.suggestedOnly);
      rooms.push({ ...roomSummary(snap), children_state: links.map(strippedState) });
      if (opts.maxDepth !== undefined && depth >= opts.maxDepth) continue;
      for (const link of links) {
        const childId = link.pdu.state_key ?? "";
        if (seen.has(childId)) continue;
        seen.add(childId);
        const child = await this.snapshot(childId);
        if (child && (await this.accessible(userId, child))) queue.push({ snap: child, depth: depth + 1 });
      }
    }
    const page = rooms.slice(offset, offset + opts.limit);
    const body: Record<string, unknown> = { rooms: page };
    if (offset + opts.limit < rooms.length) body.next_batch = `${offset + opts.limit}_${binding}`;
    return body;
  }

  /**
   * A member (joined or invited) sees the room; anyone sees a public, knockable or world-readable
   * one; a restricted room is seen by members of a room its `allow` list names.
   */
  private async accessible(userId: string, snap: RoomSnapshot): Promise<boolean> {
    if (snap.is(userId, "join") || snap.is(userId, "invite")) return true;
    const joinRules = snap.get("m.room.join_rules", "")?.pdu.content;
    const rule = typeof joinRules?.join_rule === "string" ? joinRules.join_rule : "invite";
    if (PEEKABLE_JOIN_RULES.has(rule)) return true;
    if (snap.get("m.room.history_visibility", "")?.pdu.content.history_visibility === "world_readable")
      return true;
    if (rule === "restricted" || rule === "knock_restricted") {
      const allow = Array.isArray(joinRules?.allow) ? joinRules.allow : [];
      for (const a of allow) {
        const roomId = (a as { type?: unknown; room_id?: unknown }).room_id;
        if ((a as { type?: unknown }).type !== "m.room_membership" || typeof roomId !== "string") continue;
        if ((await this.snapshot(roomId))?.is(userId, "join")) return true;
      }
    }
    return false;
  }
}

/**
 * A space's `m.space.child` links that count: content with a non-empty `via`, and `suggested`
 * when asked; in the spec's order (valid `order` strings first, lexicographically, then the link's
 * timestamp, then the room id).
 */
function childLinks(snap: RoomSnapshot, suggestedOnly: boolean): StoredEvent[] {
  const links: StoredEvent[] = [];
  for (const e of snap.state.values()) {
    if (e.pdu.type !== "m.space.child" || !e.pdu.state_key) continue;
    const via = e.pdu.content.via;
    if (!Array.isArray(via) || via.length === 0) continue;
    if (suggestedOnly && e.pdu.content.suggested !== true) continue;
    links.push(e);
  }
  const orderOf = (e: StoredEvent) => {
    const o = e.pdu.content.order;
    return typeof o === "string" && o.length <= 50 && /^[\x20-\x7E]*$/.test(o) ? o : null;
  };
  return links.sort((a, b) => {
    const oa = orderOf(a);
    const ob = orderOf(b);
    if (oa !== ob) {
      if (oa === null) return 1;
      if (ob === null) return -1;
      return oa < ob ? -1 : 1;
    }
    const ta = Number(a.pdu.origin_server_ts ?? 0);
    const tb = Number(b.pdu.origin_server_ts ?? 0);
    if (ta !== tb) return ta - tb;
    return (a.pdu.state_key ?? "") < (b.pdu.state_key ?? "") ? -1 : 1;
  });
}

function strippedState(e: StoredEvent): Record<string, unknown> {
  return {
    type: e.pdu.type,
    state_key: e.pdu.state_key,
    content: e.pdu.content,
    sender: e.pdu.sender,
    origin_server_ts: e.pdu.origin_server_ts,
  };
}

function bindingOf(rootId: string, opts: HierarchyOptions): string {
  return createHash("sha256")
    .update(`${rootId}\n${opts.suggestedOnly}\n${opts.maxDepth ?? ""}`)
    .digest("hex")
    .slice(0, 12);
}
