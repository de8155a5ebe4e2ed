import { z } from "zod";
import { type BusRecord, HEADERS, topicFor } from "./event-bus.ts";

/** An event as it travels on the bus: the outbox row minus delivery bookkeeping. */
export const envelopeSchema = z.object({
  id: z.string().uuid(),
  aggregate_type: z.string().min(1),
  aggregate_id: z.string().min(1),
  event_type: z.string().min(1),
  payload: z.unknown(),
  metadata: z.record(z.string(), z.unknown()),
  /** Milliseconds since the epoch when the event was written (for lag). */
  created_at: z.number(),
});
export type EventEnvelope = z.infer<typeof envelopeSchema>;

export function toRecord(e: EventEnvelope): BusRecord {
  // Two headers only: they are encoded per record and cost publish throughput. The aggregate type
  // is the topic's; correlation and trace ids travel in the envelope's metadata.
  const headers: Record<string, string> = {
    [HEADERS.eventId]: e.id,
    [HEADERS.eventType]: e.event_type,
  };
  return { topic: topicFor(e.aggregate_type), key: e.aggregate_id, value: JSON.stringify(e), headers };
}

/** Parses a record's value; the reason string says what is wrong when it is not an envelope. */
export function fromRecord(
  value: string,
): { ok: true; envelope: EventEnvelope } | { ok: false; reason: string } {
  let json: unknown;
  try {
    json = JSON.parse(value);
  } catch {
    return { ok: false, reason: "value is not JSON" };
  }
  const parsed = envelopeSchema.safeParse(json);
  if (!parsed.success) {
    const i = parsed.error.issues[0];
    return {
      ok: false,
      reason: `not an event envelope: ${i?.path.join(".") ?? ""} ${i?.message ?? ""}`.trim(),
    };
  }
  return { ok: true, envelope: parsed.data };
}
