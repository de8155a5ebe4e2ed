import type { Pdu } from "./events.ts";
import type { EventRow } from "./rooms.repository.ts";

/** A room event in the client-server API's format (spec "ClientEvent"). */
export type ClientEvent = {
  type: string;
  content: Record<string, unknown>;
  event_id: string;
  sender: string;
  origin_server_ts: number;
  room_id: string;
  state_key?: string;
  redacts?: string;
  unsigned: Record<string, unknown>;
};

/** Who is looking: the sending device alone sees its transaction_id. */
export type Viewer = { userId: string; deviceId?: string };

/** Normalises numeric columns: PGlite and pg may hand int8 back as string or bigint. */
export function normalizeRow(r: EventRow): EventRow {
  return typeof r.stream_position === "number" ? r : { ...r, stream_position: Number(r.stream_position) };
}

/**
 * Parsed PDUs of rows held in memory (the rooms' timeline cache hands the same row to every
 * member's delta): parsed once, not once per viewer. Rows are never modified; nor is what this returns.
 */
const parsedPdus = new WeakMap<EventRow, Pdu>();

export function pduOf(row: EventRow): Pdu {
  let pdu = parsedPdus.get(row);
  if (!pdu) {
    pdu = JSON.parse(row.pdu) as Pdu;
    parsedPdus.set(row, pdu);
  }
  return pdu;
}

export function toClientEvent(row: EventRow, viewer: Viewer | null, now = Date.now()): ClientEvent {
  const pdu = pduOf(row);
  const ev: ClientEvent = {
    type: pdu.type,
    content: pdu.content ?? {},
    event_id: row.event_id,
    sender: pdu.sender,
    origin_server_ts: pdu.origin_server_ts,
    room_id: pdu.room_id,
    unsigned: { age: Math.max(0, now - pdu.origin_server_ts) },
  };
  if (pdu.state_key !== undefined) ev.state_key = pdu.state_key;
  // Room v11 moved `redacts` into content; clients still read the top-level key (Synapse serves both).
  const redacts = pdu.redacts ?? (pdu.type === "m.room.redaction" ? pdu.content?.redacts : undefined);
  if (typeof redacts === "string") ev.redacts = redacts;
  if (row.prev_state) Object.assign(ev.unsigned, JSON.parse(row.prev_state) as Record<string, unknown>);
  if (row.redacted_because) ev.unsigned.redacted_because = JSON.parse(row.redacted_because) as unknown;
  if (viewer && row.txn_id && row.sender === viewer.userId && row.txn_device_id === viewer.deviceId) {
    ev.unsigned.transaction_id = row.txn_id;
  }
  return ev;
}

/** Stripped state (spec "Stripped state"): type, state_key, sender and content only. */
export function strippedState(row: EventRow): Record<string, unknown> {
  const pdu = JSON.parse(row.pdu) as Pdu;
  return { type: pdu.type, state_key: pdu.state_key, sender: pdu.sender, content: pdu.content };
}

/** State types a prospective member sees with an invite (spec "Stripped state" recommendation). */
export const STRIPPED_STATE_TYPES = [
  "m.room.create",
  "m.room.join_rules",
  "m.room.name",
  "m.room.avatar",
  "m.room.canonical_alias",
  "m.room.encryption",
  "m.room.topic",
];
