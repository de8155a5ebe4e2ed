import { type ClientEvent, normalizeRow, toClientEvent, type Viewer } from "../client-events.ts";
import type { RoomsCore } from "../core.ts";
import { hiddenByIgnore } from "../ignored-users.ts";
import { formatRoomToken } from "../pagination.ts";
import { RELATIONS_RECURSION_DEPTH } from "../storage/relations.repository.ts";
import type { EventRow } from "../storage/rows.ts";
import type { Aggregations } from "./aggregations.ts";
import type { StateReads } from "./state.ts";
import type { TimelineReads } from "./timeline.ts";

export type RelationsQuery = {
  relType?: string;
  eventType?: string;
  /** Positions from the `from`/`to` tokens; `fromToken` is echoed as `prev_batch`. */
  from?: number;
  fromToken?: string;
  to?: number;
  dir: "b" | "f";
  limit: number;
  recurse: boolean;
};

export type ThreadsQuery = { include: "all" | "participated"; from?: number; limit: number };

/**
 * GET /relations and GET /threads: the user must be able to read the room (403) and, for
 * /relations, to see the parent event (404); every event returned passes the room's history
 * visibility for them, as /messages does, and carries its own aggregations.
 */
export class RelationReads {
  constructor(
    private readonly core: RoomsCore,
    private readonly state: StateReads,
    private readonly timeline: TimelineReads,
    private readonly aggregations: Aggregations,
  ) {}

  async relations(
    userId: string,
    roomId: string,
    parentId: string,
    q: RelationsQuery,
    current: number,
    viewer: Viewer,
  ): Promise<Record<string, unknown>> {
    await this.state.readableAt(userId, roomId);
    await this.timeline.visibleEvent(userId, roomId, parentId);
    const from = q.from !== undefined ? Math.min(q.from, current) : q.dir === "b" ? current : 0;
    const to = q.dir === "f" ? Math.min(q.to ?? current, current) : q.to;
    const raw = await this.core.repo.relations.page(roomId, parentId, {
      relType: q.relType,
      eventType: q.eventType,
      from,
      to,
      dir: q.dir,
      limit: q.limit + 1,
      recurse: q.recurse,
    });
    const more = raw.length > q.limit;
    const rows = raw.slice(0, q.limit).map(normalizeRow);
    const chunk = await this.shown(userId, roomId, rows, viewer);
    const body: Record<string, unknown> = { chunk };
    if (more && rows.length > 0) {
      const last = rows[rows.length - 1]!.stream_position;
      body.next_batch = formatRoomToken(q.dir === "b" ? last - 1 : last);
    }
    if (q.fromToken !== undefined) body.prev_batch = q.fromToken;
    if (q.recurse) body.recursion_depth = RELATIONS_RECURSION_DEPTH;
    return body;
  }

  /** Thread roots, the most recently active first, each with its thread summary. */
  async threads(
    userId: string,
    roomId: string,
    q: ThreadsQuery,
    current: number,
    viewer: Viewer,
  ): Promise<Record<string, unknown>> {
    await this.state.readableAt(userId, roomId);
    const raw = await this.core.repo.relations.threadRoots(roomId, {
      from: Math.min(q.from ?? current, current),
      limit: q.limit + 1,
      participant: q.include === "participated" ? userId : undefined,
    });
    const more = raw.length > q.limit;
    const roots = raw.slice(0, q.limit);
    const chunk = await this.shown(userId, roomId, roots.map(normalizeRow), viewer);
    const body: Record<string, unknown> = { chunk };
    if (more && roots.length > 0)
      body.next_batch = formatRoomToken(Number(roots[roots.length - 1]!.latest) - 1);
    return body;
  }

  /** The rows this user may see, as client events with their aggregations. */
  private async shown(
    userId: string,
    roomId: string,
    rows: EventRow[],
    viewer: Viewer,
  ): Promise<ClientEvent[]> {
    const [visible, ignored] = await Promise.all([
      this.state.visibleTo(userId, roomId),
      this.core.ignoredBy(userId),
    ]);
    const kept = rows.filter((r) => visible(r) && !hiddenByIgnore(r, ignored));
    const chunk = (await this.timeline.served(userId, roomId, kept)).map((r) => toClientEvent(r, viewer));
    await this.aggregations.bundle(viewer, chunk);
    return chunk;
  }
}
