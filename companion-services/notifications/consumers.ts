import type { Kysely, Transaction } from "kysely";
import {
  membershipChanged,
  type PushRecipient,
  type RoomEventStored,
  receiptMoved,
  roomEventStored,
} from "../../server/events.ts";
import { deviceRevoked, userDeactivated } from "../identity/events.ts";
import { EventConsumer, type EventHandler, on } from "../platform/consumer.ts";
import type { EventEnvelope } from "../platform/envelope.ts";
import { type EventBus, topicFor } from "../platform/event-bus.ts";
import type { Logger } from "../platform/logger.ts";
import type { ThreadScope } from "./notifications.repository.ts";
import type { NotificationsService } from "./service.ts";
import { notificationsSocialConsumer } from "./social-consumers.ts";
import type { NotificationKind, NotificationsTables, RoomEventBody } from "./tables.ts";

type Trx = Transaction<NotificationsTables>;

/** What a room event is to one recipient: their invite, a highlight, or a plain message. */
export function kindFor(e: RoomEventStored, r: PushRecipient): NotificationKind {
  if (e.type === "m.room.member" && e.content.membership === "invite" && e.state_key === r.user_id)
    return "invites";
  return r.highlight ? "mentions" : "messages";
}

export function roomEventBody(e: RoomEventStored): RoomEventBody {
  return {
    event_id: e.event_id,
    room_id: e.room_id,
    type: e.type,
    sender: e.sender,
    ...(e.state_key !== undefined ? { state_key: e.state_key } : {}),
    origin_server_ts: e.origin_server_ts,
    content: e.content,
    sender_display_name: e.sender_display_name,
    room_name: e.room_name,
  };
}

/** A receipt's `thread_id`: "" is unthreaded (the whole room), "main" the main timeline. */
export function threadScope(threadId: string): ThreadScope {
  if (threadId === "") return { kind: "room" };
  if (threadId === "main") return { kind: "main" };
  return { kind: "thread", rootId: threadId };
}

const LEFT = new Set(["leave", "ban"]);

/** Without a database there is nothing to store: the handlers need one. */
function required(trx: Trx | null): Trx {
  if (!trx) throw new Error("the notifications consumers need the service's database");
  return trx;
}

/**
 * Room events in: a notification per recipient, then each sender's room read up to their own
 * latest event there (sending reads the room, spec "Receiving notifications"). Marking after the
 * inserts is the same as in order: only notifications at or before the sender's event are read.
 */
async function storeRoomEvents(
  trx: Trx,
  service: NotificationsService,
  items: { payload: RoomEventStored; event: EventEnvelope }[],
): Promise<void> {
  const inputs = items.flatMap(({ payload: e, event }) => {
    const body = roomEventBody(e);
    return (
      e.recipients
        // Never notified of one's own event.
        .filter((r) => r.user_id !== e.sender)
        .map((r) => ({
          userId: r.user_id,
          kind: kindFor(e, r),
          sourceEventId: event.id,
          dedupKey: e.event_id,
          body,
          roomEvent: {
            roomId: e.room_id,
            eventId: e.event_id,
            streamPosition: e.stream_position,
            highlight: r.highlight,
            actions: r.actions,
          },
          push: true,
        }))
    );
  });
  await service.notifyMany(trx, inputs);
  const reads = new Map<string, { userId: string; roomId: string; upTo: number }>();
  for (const { payload: e } of items) {
    const key = `${e.sender}\u0000${e.room_id}`;
    const r = reads.get(key);
    if (!r || r.upTo < e.stream_position)
      reads.set(key, { userId: e.sender, roomId: e.room_id, upTo: e.stream_position });
  }
  await service.markRoomsRead(trx, [...reads.values()]);
}

/** Messaging's room events: notifications in, and everything that reads them. */
export function notificationsRoomConsumer(
  db: Kysely<NotificationsTables>,
  bus: EventBus,
  logger: Logger,
  service: NotificationsService,
  onApplied?: () => void,
): EventConsumer<NotificationsTables> {
  return new EventConsumer<NotificationsTables>({
    service: "notifications",
    name: "room-events",
    bus,
    db,
    logger,
    topics: [topicFor("room")],
    onApplied,
    handlers: {
      "room.event_stored": {
        schema: roomEventStored,
        apply: (t, e, envelope) => storeRoomEvents(required(t), service, [{ payload: e, event: envelope }]),
        // A batch's events in one notifyMany (a few statements for the lot, not per event).
        applyBatch: (t, items) => storeRoomEvents(required(t), service, items),
      } satisfies EventHandler<NotificationsTables, RoomEventStored>,
      "room.receipt_moved": on(receiptMoved, async (t, p) => {
        await service.markRoomRead(required(t), {
          userId: p.user_id,
          roomId: p.room_id,
          upTo: p.stream_position,
          scope: threadScope(p.thread_id),
        });
      }),
      "room.membership_changed": on(membershipChanged, async (t, p) => {
        if (!LEFT.has(p.membership)) return;
        // Everything so far: a notification after leaving cannot be caught up on anyway.
        await service.markRoomRead(required(t), {
          userId: p.user_id,
          roomId: p.room_id,
          upTo: Number.MAX_SAFE_INTEGER,
        });
      }),
    },
  });
}

/** Identity's events: a pusher goes with its device, and all of them with the account. */
export function notificationsIdentityConsumer(
  db: Kysely<NotificationsTables>,
  bus: EventBus,
  logger: Logger,
  service: NotificationsService,
): EventConsumer<NotificationsTables> {
  return new EventConsumer<NotificationsTables>({
    service: "notifications",
    name: "identity-events",
    bus,
    db,
    logger,
    topics: [topicFor("user")],
    handlers: {
      "device.revoked": on(deviceRevoked, async (t, p) => {
        await service.pushers.repo.deleteForDevice(required(t), p.user_id, p.device_id);
      }),
      "user.deactivated": on(userDeactivated, async (t, p) => {
        await service.pushers.repo.deleteForUser(required(t), p.user_id);
      }),
    },
  });
}

/**
 * Every consumer: room events, identity's, then the social services' (graph's follows, content's
 * likes, comments, shares and mentions). `onEnqueued` runs after a batch that may have queued
 * deliveries commits.
 */
export function createNotificationsConsumers(
  db: Kysely<NotificationsTables>,
  bus: EventBus,
  logger: Logger,
  service: NotificationsService,
  opts: { onEnqueued?: () => void } = {},
): EventConsumer<NotificationsTables>[] {
  return [
    notificationsRoomConsumer(db, bus, logger, service, opts.onEnqueued),
    notificationsIdentityConsumer(db, bus, logger, service),
    notificationsSocialConsumer(db, bus, logger, service, opts.onEnqueued),
  ];
}
