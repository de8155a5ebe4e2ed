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
  const chain = new Chain(roomId, snap, serverName, key, now);
  return drafts.map((d) => chain.add(d));
}

/**
 * As buildEvents, but a draft that is refused (auth rules, size) is left out and the next one is
 * built on the last event that was built: each result is the event or the error of its draft.
 */
export function buildEach(
  roomId: string,
  snap: RoomSnapshot,
  drafts: readonly Draft[],
  serverName: string,
  key: SigningKey,
  now: number,
): (BuiltEvent | { error: unknown })[] {
  const chain = new Chain(roomId, snap, serverName, key, now);
  return drafts.map((d) => {
    try {
      return chain.add(d);
    } catch (error) {
      return { error };
    }
  });
}

/** Events built one on another on a snapshot: state in an overlay, prev_events the previous one. */
class Chain {
  private readonly overlay: StateOverlay;
  private prev: string | null;
  private depth: number;

  constructor(
    private readonly roomId: string,
    private readonly snap: RoomSnapshot,
    private readonly serverName: string,
    private readonly key: SigningKey,
    private readonly now: number,
  ) {
    this.overlay = new StateOverlay(snap);
    this.prev = snap.lastEventId;
    this.depth = snap.depth;
  }

  /** Builds `d` on the chain so far; throws (changing nothing) if it is refused. */
  add(d: Draft): BuiltEvent {
    const { snap, overlay } = this;
    const base: Pdu = {
      room_id: this.roomId,
      sender: d.sender,
      type: d.type,
      content: d.content,
      origin_server_ts: this.now,
      depth: this.depth + 1,
      prev_events: this.prev ? [this.prev] : [],
      auth_events: [],
    };
    if (d.stateKey !== undefined) base.state_key = d.stateKey;
    if (d.redacts !== undefined && !snap.rules.redactsInContent) base.redacts = d.redacts;
    base.auth_events = selectAuthEvents(base, overlay);
    authorizeEvent(base, overlay, snap.version);
    const { pdu, eventId } = hashAndSign(base, snap.version, this.serverName, this.key);
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
    this.prev = eventId;
    this.depth++;
    return { eventId, pdu, text, prevState, prevMembership };
  }
}
