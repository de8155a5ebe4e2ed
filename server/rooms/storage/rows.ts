import { type Selectable, sql } from "kysely";
import type { RoomsTables } from "../tables.ts";

/** The messages columns served to clients, in the order of EVENT_COLUMNS. */
export const EVENT_COLUMNS = [
  "event_id",
  "room_id",
  "stream_position",
  "type",
  "state_key",
  "sender",
  "membership",
  "pdu",
  "prev_state",
  "txn_device_id",
  "txn_id",
  "redacted_because",
] as const;

/** EVENT_COLUMNS of the messages table aliased `m`, for raw statements. */
export const EVENT_COLUMNS_M = sql.raw(EVENT_COLUMNS.map((c) => `m.${c}`).join(", "));

/** A messages row as served to clients. */
export type EventRow = Pick<Selectable<RoomsTables["messages"]>, (typeof EVENT_COLUMNS)[number]>;

export type ConversationRow = Selectable<RoomsTables["conversations"]>;

/** One event to insert, with the index rows it feeds. */
export type EventWrite = {
  eventId: string;
  roomId: string;
  position: number;
  depth: number;
  type: string;
  stateKey: string | null;
  sender: string;
  ts: number;
  membership: string | null;
  pdu: string;
  prevState: string | null;
  txnDeviceId: string | null;
  txnId: string | null;
  reaction: { relatesTo: string; key: string } | null;
  edit: { relatesTo: string } | null;
  /** Any relation (message_relations), reactions and edits included. */
  relation: { relatesTo: string; relType: string; key: string | null } | null;
  attachments: string[];
};

/**
 * An event the homeserver publishes through its outbox (server/events.ts), written in the same
 * statement as the room event `eventId` and only if that event is written.
 */
export type OutboxRow = {
  id: string;
  eventId: string;
  aggregateType: string;
  aggregateId: string;
  eventType: string;
  payload: unknown;
};

export type TxnGuard = {
  userId: string;
  deviceId: string;
  scope: string;
  txnId: string;
  eventId: string;
  roomId: string;
};

export type RedactionWrite = {
  targetId: string;
  roomId: string;
  redactedPdu: string;
  redactedBecause: string;
  redactionEventId: string;
  sender: string;
  position: number;
};

/** A room's head moves from `expected` to `next` with the write, or the write does not happen. */
export type HeadSwap = { roomId: string; expected: number; next: number };

/** A user's current membership in one room (conversation_members). */
export type UserMembership = {
  room_id: string;
  membership: string;
  event_id: string;
  stream_position: number;
  forgotten: boolean;
};

/** Event filter of /messages and sync timelines (spec RoomEventFilter, the parts done in SQL). */
export type EventFilter = {
  types?: string[];
  notTypes?: string[];
  senders?: string[];
  notSenders?: string[];
};

/** A member event or a history-visibility change, as history visibility reads them. */
export type MembershipChange = { membership: string; stream_position: number };
export type VisibilityChange = { visibility: string; stream_position: number };
