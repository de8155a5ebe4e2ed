import { type Pdu, type StoredEvent, stateKeyOf } from "../../server/rooms/events.ts";

/** A PDU for the pure auth-rule tests: a room event with empty defaults, overridden by `p`. */
export const testPdu = (p: Partial<Pdu> & Pick<Pdu, "type" | "sender">): Pdu => ({
  room_id: "!r:d",
  content: {},
  origin_server_ts: 0,
  depth: 5,
  prev_events: ["$x"],
  auth_events: [],
  ...p,
});

/** A room state of these state events (ids `$<index>`), as the auth rules read it. */
export function stateOf(events: Pdu[]): { get(type: string, stateKey: string): StoredEvent | undefined } {
  const m = new Map<string, StoredEvent>();
  events.forEach((pdu, i) => {
    m.set(stateKeyOf(pdu.type, pdu.state_key!), { eventId: `$${i}`, pdu, position: i });
  });
  return { get: (t, k) => m.get(stateKeyOf(t, k)) };
}
