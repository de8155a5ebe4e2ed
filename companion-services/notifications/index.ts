import type { EventConsumer } from "../platform/consumer.ts";
import type { ServiceDatabase } from "../platform/database.ts";
import type { EventBus } from "../platform/event-bus.ts";
import type { Router } from "../platform/http/router.ts";
import type { Logger } from "../platform/logger.ts";
import type { NotificationsConfig } from "./config.ts";
import { createNotificationsConsumers } from "./consumers.ts";
import { PushDeliveryWorker } from "./delivery/worker.ts";
import { mountNotificationsRoutes } from "./routes/index.ts";
import { NotificationsService } from "./service.ts";
import type { NotificationsTables } from "./tables.ts";

export type { NotificationsService } from "./service.ts";

export type Notifications = {
  service: NotificationsService;
  worker: PushDeliveryWorker;
  /** Registers `/pushers`, `/notifications` and `/_nova/v1/notifications*` on a router. */
  mount(router: Router): void;
  /** Starts the consumers of the homeserver's, identity's, graph's and content's events, and the delivery worker. */
  start(): Promise<void>;
  stop(): Promise<void>;
};

const PRUNE_MS = 60_000;

/**
 * The notifications service on its own database: the same in the homeserver's process (npm
 * start) and in its own (`nova serve notifications`). It reads nothing but its own tables and
 * the events on the bus.
 */
export function createNotifications(
  database: ServiceDatabase<unknown>,
  config: NotificationsConfig,
  bus: EventBus,
  logger: Logger,
): Notifications {
  const own = database as ServiceDatabase<NotificationsTables>;
  const log = logger.child({ service: "notifications" });
  const settings = config.notifications.push;
  // The worker reads the badge through the service; the service wakes the worker when a
  // mark-read over HTTP queues badge updates.
  let wake = () => {};
  const service = new NotificationsService(own.db, {
    dedupWindowMs: settings.dedupWindowMs,
    onEnqueued: () => wake(),
  });
  const worker = new PushDeliveryWorker(own.db, settings, log, {
    badgeOf: (userId) => service.unreadRoomCount(userId),
  });
  wake = () => worker.wake();
  const consumers: EventConsumer<NotificationsTables>[] = createNotificationsConsumers(
    own.db,
    bus,
    log,
    service,
    { onEnqueued: () => worker.wake() },
  );
  let prune: NodeJS.Timeout | null = null;
  return {
    service,
    worker,
    mount(router) {
      mountNotificationsRoutes(router, service);
    },
    async start() {
      for (const c of consumers) await c.start();
      worker.start();
      prune = setInterval(() => {
        service.pruneDedup().catch((err: unknown) => log.warn({ err }, "dedup prune failed"));
      }, PRUNE_MS);
      prune.unref();
    },
    async stop() {
      if (prune) clearInterval(prune);
      for (const c of consumers) await c.stop();
      await worker.stop();
    },
  };
}
