import { MatrixError } from "../../../companion-services/platform/errors.ts";
import type { RoomsCore } from "../core.ts";

/** Synapse's limit on an annotation's key. */
const MAX_AGGREGATION_KEY = 500;

function relationOf(
  content: Record<string, unknown>,
): { relType: string; eventId: string; key: unknown } | null {
  const rel = content["m.relates_to"];
  if (!rel || typeof rel !== "object" || Array.isArray(rel)) return null;
  const r = rel as { rel_type?: unknown; event_id?: unknown; key?: unknown };
  if (typeof r.rel_type !== "string" || typeof r.event_id !== "string") return null;
  return { relType: r.rel_type, eventId: r.event_id, key: r.key };
}

/**
 * What Synapse refuses of a new event's relation before sending it (its _validate_event_relation):
 * a parent in another room or unknown here, an annotation without a key or repeating the
 * sender's (M_DUPLICATE_ANNOTATION), a thread started from an event that is itself a relation.
 * A check before the write, as in Synapse: two identical reactions racing may both pass.
 */
export async function checkRelation(
  core: RoomsCore,
  roomId: string,
  type: string,
  sender: string,
  content: Record<string, unknown>,
): Promise<void> {
  const rel = relationOf(content);
  if (!rel) return;
  const { events, relations } = core.repo;
  const parent = await events.getEvent(rel.eventId);
  if (parent) {
    if (parent.room_id !== roomId)
      throw new MatrixError(400, "M_UNKNOWN", "Relations must be in the same room");
  } else if (!(await relations.isTarget(rel.eventId))) {
    throw new MatrixError(400, "M_UNKNOWN", "Can't send relation to unknown event");
  }
  if (rel.relType === "m.annotation") {
    if (typeof rel.key !== "string") throw new MatrixError(400, "M_UNKNOWN", "Missing aggregation key");
    if (rel.key.length > MAX_AGGREGATION_KEY)
      throw new MatrixError(400, "M_UNKNOWN", "Aggregation key is too long");
    if (await relations.hasAnnotated(rel.eventId, type, sender, rel.key)) {
      throw new MatrixError(400, "M_DUPLICATE_ANNOTATION", "Can't send same reaction twice");
    }
  } else if (rel.relType === "m.thread" && parent) {
    const parentContent = (JSON.parse(parent.pdu) as { content?: Record<string, unknown> }).content ?? {};
    if (relationOf(parentContent)) {
      throw new MatrixError(400, "M_UNKNOWN", "Cannot start threads from an event with a relation");
    }
  }
}
