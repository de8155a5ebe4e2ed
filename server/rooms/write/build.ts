import { tooLarge } from "../../../companion-services/platform/errors.ts";
import { authorizeEvent, selectAuthEvents } from "../auth-rules.ts";
import type { Draft } from "../draft.ts";
import { hashAndSign, type SigningKey } from "../event-hashing.ts";
import { membershipIn, type Pdu } from "../events.ts";
import { type RoomSnapshot, StateOverlay } from "../room-snapshot.ts";

/** The spec's limit on a whole PDU (spec "Size limits"). */
const MAX_PDU_BYTES = 65536;

/** An event built, authorised and signed, ready to store. */
export type BuiltEvent = {
  eventId: string;
  pdu: Pdu;
  text: string;
  prevState: string | null;
  prevMembership: string | null;
};

/**
 * Builds the drafts on `snap` one after the other (each on the state the previous one made),
 * applying the room version's authorization rules, and signs them with the server's key.
 */
export function buildEvents(
  roomId: string,
  snap: RoomSnapshot,
  drafts: readonly Draft[],
  serverName: string,
  key: SigningKey,
  now: number,
): BuiltEvent[] {
  const overlay = new StateOverlay(snap);
  let prev = snap.lastEventId;
  let depth = snap.depth;
  const built: BuiltEvent[] = [];
  for (const d of drafts) {
    const base: Pdu = {
      room_id: roomId,
      sender: d.sender,
      type: d.type,
      content: d.content,
      origin_server_ts: now,
      depth: depth + 1,
      prev_events: prev ? [prev] : [],
      auth_events: [],
    };
    if (d.stateKey !== undefined) base.state_key = d.stateKey;
    if (d.redacts !== undefined && !snap.rules.redactsInContent) base.redacts = d.redacts;
    base.auth_events = selectAuthEvents(base, overlay);
    authorizeEvent(base, overlay, snap.version);
    const { pdu, eventId } = hashAndSign(base, snap.version, serverName, key);
    const text = JSON.stringify(pdu);
    if (Buffer.byteLength(text) > MAX_PDU_BYTES) throw tooLarge("Event is larger than 65536 bytes");
    const replaced = d.stateKey !== undefined ? overlay.get(d.type, d.stateKey) : undefined;
    const prevState = replaced
      ? JSON.stringify({
          prev_content: replaced.pdu.content,
          prev_sender: replaced.pdu.sender,
          replaces_state: replaced.eventId,
        })
      : null;
    const prevMembership =
      d.type === "m.room.member" && d.stateKey !== undefined ? membershipIn(overlay, d.stateKey) : null;
    overlay.set({ eventId, pdu, position: 0 });
    built.push({ eventId, pdu, text, prevState, prevMembership });
    prev = eventId;
    depth++;
  }
  return built;
}
