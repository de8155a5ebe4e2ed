import { randomUUID } from "node:crypto";
import type { Kysely } from "kysely";
import { createNotificationsConsumers } from "../../companion-services/notifications/consumers.ts";
import { PushersRepository } from "../../companion-services/notifications/pushers.repository.ts";
import { mountNotificationsRoutes } from "../../companion-services/notifications/routes/index.ts";
import { NotificationsService } from "../../companion-services/notifications/service.ts";
import type { NotificationsTables } from "../../companion-services/notifications/tables.ts";
import { unknownToken } from "../../companion-services/platform/errors.ts";
import { MemoryEventBus } from "../../companion-services/platform/event-bus/memory.ts";
import type { DeliveredRecord } from "../../companion-services/platform/event-bus.ts";
import { topicFor } from "../../companion-services/platform/event-bus.ts";
import { Router } from "../../companion-services/platform/http/router.ts";
import { HttpServer } from "../../companion-services/platform/http/server.ts";
import type { RoomEventStored } from "../../server/events.ts";
import { jsonCaller } from "../helpers/json-call.ts";
import { openFresh, silentLogger } from "../platform/helpers.ts";

export const NOTIFY_URL = "https://push.example/_matrix/push/v1/notify";

/**
 * The notifications service on fresh storage (PGlite, or PostgreSQL with DATABASE_URL) behind the
 * platform's HTTP front. A token `<localpart>.<device>` authenticates as `@<localpart>:test`.
 */
export async function notificationsEnv(opts: { dedupWindowMs?: number; now?: () => number } = {}) {
  const env = await openFresh(["notifications"]);
  const db = env.databases.get<NotificationsTables>("notifications").db;
  let woken = 0;
  const service = new NotificationsService(db, {
    dedupWindowMs: opts.dedupWindowMs ?? 60_000,
    onEnqueued: () => woken++,
    now: opts.now,
  });
  const [rooms, identity] = createNotificationsConsumers(db, new MemoryEventBus(), silentLogger, service, {
    onEnqueued: () => woken++,
  });
  const router = new Router();
  mountNotificationsRoutes(router, service);
  const server = new HttpServer({
    router,
    logger: silentLogger,
    maxRequestBody: 64 * 1024,
    authenticate: async (token) => {
      const [localpart, deviceId] = token.split(".");
      if (!localpart || !deviceId) throw unknownToken();
      return { userId: `@${localpart}:test`, deviceId, sessionId: token, isGuest: false };
    },
  });
  const port = await server.listen("127.0.0.1", 0);
  const base = `http://127.0.0.1:${port}`;

  const call = jsonCaller(base);

  return {
    db,
    service,
    rooms: rooms!,
    identity: identity!,
    call,
    woken: () => woken,
    async close() {
      await server.close();
      await env.close();
    },
  };
}

export type NotificationsEnv = Awaited<ReturnType<typeof notificationsEnv>>;

let offset = 0;
/** A bus record carrying an envelope, as the consumer receives it. */
export function record(
  aggregate: "room" | "user",
  key: string,
  eventType: string,
  payload: unknown,
  id: string = randomUUID(),
): DeliveredRecord {
  return {
    topic: topicFor(aggregate),
    key,
    partition: 0,
    offset: String(offset++),
    headers: {},
    value: JSON.stringify({
      id,
      aggregate_type: aggregate,
      aggregate_id: key,
      event_type: eventType,
      payload,
      metadata: {},
      created_at: Date.now(),
    }),
  };
}

/** A room.event_stored payload: a plain text message from `sender` notifying `recipients`. */
export function stored(
  p: Partial<RoomEventStored> & { event_id: string; stream_position: number },
): RoomEventStored {
  return {
    room_id: "!room:test",
    type: "m.room.message",
    sender: "@bob:test",
    origin_server_ts: 1_700_000_000_000 + p.stream_position,
    content: { msgtype: "m.text", body: `message ${p.stream_position}` },
    sender_display_name: "Bob",
    room_name: "Room",
    member_count: 2,
    recipients: [{ user_id: "@alice:test", actions: ["notify"], highlight: false }],
    ...p,
  };
}

export const roomEvent = (p: Parameters<typeof stored>[0]) =>
  record("room", p.room_id ?? "!room:test", "room.event_stored", stored(p));

/** An http pusher for `user` straight into the table (the API is tested on its own). */
export async function addPusher(
  db: Kysely<NotificationsTables>,
  userId: string,
  pushkey: string,
  deviceId = "D",
) {
  await new PushersRepository(db).upsert(
    db,
    {
      userId,
      deviceId,
      appId: "app",
      pushkey,
      kind: "http",
      appDisplayName: "App",
      deviceDisplayName: "Phone",
      profileTag: null,
      lang: "en",
      data: { url: NOTIFY_URL },
    },
    0,
  );
}

export function queue(db: Kysely<NotificationsTables>) {
  return db.selectFrom("push_queue").selectAll().orderBy("id").execute();
}

/** Empties the service's tables between tests sharing one database. */
export async function wipe(db: Kysely<NotificationsTables>) {
  for (const table of [
    "push_queue",
    "push_delivery_logs",
    "notifications",
    "push_tokens",
    "notification_preferences",
    "notification_dedup",
  ] as const) {
    await db.deleteFrom(table).execute();
  }
}
