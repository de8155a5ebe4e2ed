import { z } from "zod";

/**
 * The events the homeserver (the messaging service) publishes through its outbox, on topic
 * `nova.room.events`, keyed by room id so one room's events keep their order. Each is written in
 * the same transaction (or statement) as the change it reports. Consumers validate payloads with
 * these schemas.
 */
export const MESSAGING_AGGREGATE = "room";

const userId = z.string().startsWith("@");
const roomId = z.string().startsWith("!");

/** One recipient's verdict from its push rules (only recipients whose actions notify are listed). */
export const pushRecipient = z.object({
  user_id: userId,
  /** The matching rule's actions, as the spec writes them ("notify", {set_tweak…}). */
  actions: z.array(z.unknown()),
  highlight: z.boolean(),
});
export type PushRecipient = z.infer<typeof pushRecipient>;

/**
 * A room event was stored. `content` is what the server holds: for m.room.encrypted the
 * ciphertext, never a plaintext. `recipients` are the room's other users whose push rules say
 * the event notifies them (the invitee too, for an invite).
 */
export const roomEventStored = z.object({
  room_id: roomId,
  event_id: z.string().startsWith("$"),
  stream_position: z.number().int().nonnegative(),
  type: z.string().min(1),
  sender: userId,
  state_key: z.string().optional(),
  origin_server_ts: z.number().int(),
  content: z.record(z.string(), z.unknown()),
  sender_display_name: z.string().nullable(),
  room_name: z.string().nullable(),
  member_count: z.number().int().nonnegative(),
  recipients: z.array(pushRecipient),
});
export type RoomEventStored = z.infer<typeof roomEventStored>;

/** A user's membership in a room changed (join, leave, invite, ban, knock). */
export const membershipChanged = z.object({
  room_id: roomId,
  user_id: userId,
  membership: z.string().min(1),
  prev_membership: z.string().nullable(),
  event_id: z.string().startsWith("$"),
  sender: userId,
  stream_position: z.number().int().nonnegative(),
});
export type MembershipChanged = z.infer<typeof membershipChanged>;

/**
 * A user's read receipt moved forward: everything in the room up to `stream_position` (the
 * receipted event's) is read, or in `thread_id`'s thread only when it is not "".
 */
export const receiptMoved = z.object({
  room_id: roomId,
  user_id: userId,
  event_id: z.string().startsWith("$"),
  receipt_type: z.enum(["m.read", "m.read.private"]),
  thread_id: z.string(),
  stream_position: z.number().int().nonnegative(),
});
export type ReceiptMoved = z.infer<typeof receiptMoved>;

export const MESSAGING_EVENTS = {
  "room.event_stored": roomEventStored,
  "room.membership_changed": membershipChanged,
  "room.receipt_moved": receiptMoved,
} as const;

export type MessagingEventType = keyof typeof MESSAGING_EVENTS;
export type MessagingEventPayload<T extends MessagingEventType> = z.infer<(typeof MESSAGING_EVENTS)[T]>;

/** An outbox entry for a messaging event, keyed by its room. */
export function messagingEvent<T extends MessagingEventType>(
  eventType: T,
  payload: MessagingEventPayload<T>,
): { aggregateType: string; aggregateId: string; eventType: T; payload: MessagingEventPayload<T> } {
  return { aggregateType: MESSAGING_AGGREGATE, aggregateId: payload.room_id, eventType, payload };
}

/**
 * The account-level events the homeserver publishes, on topic `nova.account.events`, keyed by the
 * user id so one user's changes keep their order (aggregate "account", apart from rooms').
 */
export const ACCOUNT_AGGREGATE = "account";

/**
 * The user's `m.ignored_user_list` was written: the whole list as it now is (graph replaces its
 * copy with it, so a lost or repeated event is repaired by the next one).
 */
export const ignoredUsersChanged = z.object({
  user_id: userId,
  ignored_user_ids: z.array(z.string()).max(10_000),
  changed_at: z.number().int(),
});
export type IgnoredUsersChanged = z.infer<typeof ignoredUsersChanged>;

export const ACCOUNT_EVENTS = {
  "account.ignored_users_changed": ignoredUsersChanged,
} as const;

export type AccountEventType = keyof typeof ACCOUNT_EVENTS;
export type AccountEventPayload<T extends AccountEventType> = z.infer<(typeof ACCOUNT_EVENTS)[T]>;

/** An outbox entry for an account event, keyed by its user. */
export function accountEvent<T extends AccountEventType>(
  eventType: T,
  payload: AccountEventPayload<T>,
): { aggregateType: string; aggregateId: string; eventType: T; payload: AccountEventPayload<T> } {
  return { aggregateType: ACCOUNT_AGGREGATE, aggregateId: payload.user_id, eventType, payload };
}
