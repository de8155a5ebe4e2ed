import { type ClientEvent, normalizeRow, pduOf, toClientEvent, type Viewer } from "../client-events.ts";
import type { RoomsCore } from "../core.ts";
import type { AggregationRow, AggregationTarget } from "../storage/relations.repository.ts";

/** Relations whose events may not themselves be aggregated onto (spec: edits and annotations). */
const LEAF_RELATIONS = new Set(["m.replace", "m.annotation"]);

function relationOf(content: Record<string, unknown>): { rel_type?: unknown; event_id?: unknown } | null {
  const rel = content["m.relates_to"];
  return rel && typeof rel === "object" && !Array.isArray(rel)
    ? (rel as { rel_type?: unknown; event_id?: unknown })
    : null;
}

/**
 * Whether an edit passes the checks its content decides (spec "Validity of replacement events";
 * same room, sender and type are checked in SQL): not a state event, and an unencrypted edit
 * carries `m.new_content`.
 */
function validEdit(row: AggregationRow): boolean {
  const pdu = pduOf(row);
  if (pdu.state_key !== undefined) return false;
  if (pdu.type === "m.room.encrypted") return true;
  const nc = pdu.content["m.new_content"];
  return Boolean(nc && typeof nc === "object" && !Array.isArray(nc));
}

/** The later edit by origin_server_ts, the event id breaking ties (spec). */
function later(a: AggregationRow, b: AggregationRow): AggregationRow {
  const ta = Number(a.origin_server_ts);
  const tb = Number(b.origin_server_ts);
  if (ta !== tb) return ta > tb ? a : b;
  return a.event_id > b.event_id ? a : b;
}

/**
 * Server-side aggregations (spec "Aggregations of child events"): `unsigned["m.relations"]` with
 * `m.thread` (latest event, count, current_user_participated), `m.replace` (the most recent valid
 * edit, whole — clients apply it; the server leaves the content alone since v1.7) and
 * `m.reference`. One query for all the events of a response, whatever their number.
 */
export class Aggregations {
  constructor(private readonly core: RoomsCore) {}

  async bundle(viewer: Viewer, events: readonly ClientEvent[], depth = 0): Promise<void> {
    const byId = new Map<string, ClientEvent[]>();
    const targets: AggregationTarget[] = [];
    for (const ev of events) {
      if (ev.state_key !== undefined) continue;
      const rel = relationOf(ev.content);
      if (rel && typeof rel.rel_type === "string" && LEAF_RELATIONS.has(rel.rel_type)) continue;
      const list = byId.get(ev.event_id);
      if (list) {
        list.push(ev);
        continue;
      }
      byId.set(ev.event_id, [ev]);
      targets.push({ eventId: ev.event_id, sender: ev.sender, type: ev.type });
    }
    if (targets.length === 0) return;
    const ignored = await this.core.ignoredBy(viewer.userId);
    const rows = await this.core.repo.relations.aggregations(viewer.userId, targets, [...ignored]);
    if (rows.length === 0) return;
    const edits = new Map<string, AggregationRow>();
    const refs = new Map<string, AggregationRow[]>();
    const threads = new Map<string, AggregationRow>();
    for (const raw of rows) {
      const row = normalizeRow(raw) as AggregationRow;
      if (row.rel_type === "m.replace") {
        if (!validEdit(row)) continue;
        const prev = edits.get(row.relates_to);
        edits.set(row.relates_to, prev ? later(prev, row) : row);
      } else if (row.rel_type === "m.reference") {
        const list = refs.get(row.relates_to) ?? [];
        list.push(row);
        refs.set(row.relates_to, list);
      } else if (row.rel_type === "m.thread") threads.set(row.relates_to, row);
    }
    const now = Date.now();
    const latest: ClientEvent[] = [];
    for (const [id, evs] of byId) {
      const out: Record<string, unknown> = {};
      const thread = threads.get(id);
      if (thread) {
        const latestEvent = toClientEvent(thread, viewer, now);
        latest.push(latestEvent);
        out["m.thread"] = {
          latest_event: latestEvent,
          count: Number(thread.n),
          current_user_participated: thread.mine || evs[0]!.sender === viewer.userId,
        };
      }
      const edit = edits.get(id);
      // A redacted event's edits are not bundled (its content is gone; Synapse does the same).
      if (edit && evs[0]!.unsigned.redacted_because === undefined) {
        out["m.replace"] = toClientEvent(edit, viewer, now);
      }
      const refList = refs.get(id);
      if (refList) {
        refList.sort((a, b) => a.stream_position - b.stream_position);
        out["m.reference"] = { chunk: refList.map((r) => ({ event_id: r.event_id })) };
      }
      if (Object.keys(out).length === 0) continue;
      for (const ev of evs) ev.unsigned["m.relations"] = out;
    }
    // A thread's latest event shows its own edit (one more query, only when there are threads).
    if (depth === 0 && latest.length > 0) await this.bundle(viewer, latest, 1);
  }
}
