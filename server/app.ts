import { type CallService, mountCalls } from "../calls/index.ts";
import type { Content } from "../companion-services/content/index.ts";
import type { Graph } from "../companion-services/graph/index.ts";
import { createIdentityAdmin } from "../companion-services/identity/admin.ts";
import type { IdentityAdminClient } from "../companion-services/identity/admin-client.ts";
import type { IdentityClient } from "../companion-services/identity/client.ts";
import { createIdentity } from "../companion-services/identity/index.ts";
import { createMediaFrom, type Media } from "../companion-services/media/index.ts";
import { createNotifications, type Notifications } from "../companion-services/notifications/index.ts";
import { Databases } from "../companion-services/platform/database.ts";
import type { EventBus } from "../companion-services/platform/event-bus.ts";
import { ClientAddress } from "../companion-services/platform/http/client-ip.ts";
import { readiness } from "../companion-services/platform/http/ops-listener.ts";
import { HttpServer } from "../companion-services/platform/http/server.ts";
import { createLogger, type Logger } from "../companion-services/platform/logger.ts";
import { createEventBus, startOutbox } from "../companion-services/platform/runtime.ts";
import type { ServiceName } from "../companion-services/platform/services.ts";
import type { Search } from "../companion-services/search/index.ts";
import { type CryptoService, mountCrypto } from "../crypto/index.ts";
import type { SyncEngine } from "../sync/engine.ts";
import { Notifier } from "../sync/notifier.ts";
import { mountSync } from "../sync/routes.ts";
import { StreamPositions } from "../sync/stream-positions.ts";
import { EphemeralClock } from "../sync/token.ts";
import { mountWebSocketSync } from "../sync/ws/mount.ts";
import { mountAdmin } from "./admin/index.ts";
import { ignoredUsersPort } from "./client/ignored-users.ts";
import { type ClientArea, mountClient } from "./client/mount.ts";
import { pushVerdictsOf } from "./client/push-verdicts.ts";
import { unreadPortOf } from "./client/unread.ts";
import type { NovaConfig } from "./config.ts";
import type { NovaContext } from "./context.ts";
import { mountEmail } from "./email/mount.ts";
import { GuestAwareRouter } from "./guest-access.ts";
import { Hooks } from "./hooks.ts";
import { serveOpsSocket } from "./ops/backup.ts";
import { mountProbes, startAdminListener } from "./ops/probes.ts";
import { rateLimitsFor } from "./rate-limits.ts";
import { mountRooms, type RoomsService } from "./rooms/index.ts";
import { mountAccount } from "./routes/account.ts";
import { mountDeactivate } from "./routes/deactivate.ts";
import { mountDiscovery } from "./routes/discovery.ts";
import { type Moderation, mountModeration } from "./routes/moderation.ts";
import { mountSearch } from "./search/mount.ts";
import { mountSlidingSync, slidingSyncSocketPort } from "./sliding/index.ts";
import { mountSocial } from "./social.ts";

export type Nova = {
  ctx: NovaContext;
  identity: IdentityClient;
  /** Rooms and room events (server/rooms): other areas and tests reach the rooms service here. */
  rooms: RoomsService;
  /** The E2EE key server (crypto/): devices, keys, to-device, backup. */
  crypto: CryptoService;
  /** Client config and ephemeral data (server/client): account data, push rules, typing, receipts. */
  readonly client: ClientArea;
  /** The /sync engine over every area's providers; the WebSocket transport asks the same one. */
  sync: SyncEngine;
  http: HttpServer;
  port: number;
  /** The admin listener's port (NOVA_ADMIN_PORT), null without one. */
  adminPort: number | null;
  baseUrl: string;
  calls: CallService;
  /** The media service in this process (npm start), or null when it runs on its own (nova serve media). */
  media: Media | null;
  /** The notifications service in this process (npm start), or null when it runs on its own. */
  notifications: Notifications | null;
  /** The content service in this process (npm start), or null when it runs on its own (nova serve content). */
  content: Content | null;
  /** The graph service in this process (npm start), or null when it runs on its own (nova serve graph). */
  graph: Graph | null;
  /** The search service in this process (npm start), or null when it runs on its own (nova serve search). */
  search: Search | null;
  /** Content reports (for the admin API) and OpenID tokens. */
  moderation: Moderation;
  close(): Promise<void>;
};

/** The services the all-in-one homeserver process opens databases for (npm start). */
const ALL_IN_ONE: ServiceName[] = [
  "identity",
  "messaging",
  "media",
  "notifications",
  "graph",
  "content",
  "feed",
  "search",
];

/** Wires the all-in-one homeserver: databases, identity (in-process), every area's routes, HTTP. */
export type NovaOptions = {
  logger?: Logger;
  /** The event bus shared with companion services in this process (default: from config). */
  bus?: EventBus;
  /**
   * Distributed mode (server/serve.ts): identity runs elsewhere and is
   * reached through this client; the homeserver then opens only its own database.
   */
  remoteIdentity?: (deps: {
    hooks: Hooks;
    logger: Logger;
    onClose: (fn: () => Promise<void> | void) => void;
  }) => Promise<IdentityClient>;
  /** With remoteIdentity: identity's admin operations over gRPC, for the admin API. */
  remoteIdentityAdmin?: IdentityAdminClient;
  /** Companion services whose databases open in this process too (`nova serve all`). */
  companions?: ServiceName[];
};

export async function createNova(config: NovaConfig, opts: NovaOptions = {}): Promise<Nova> {
  const logger = opts.logger ?? createLogger(config.logLevel);
  const services: ServiceName[] = opts.remoteIdentity
    ? ["messaging"]
    : [...new Set([...ALL_IN_ONE, ...(opts.companions ?? [])])];
  const databases = await Databases.open(services, { dataDir: config.dataDir, urls: config.databaseUrls });
  const messagingDb = databases.get<unknown>("messaging").db;
  const streams = new StreamPositions(messagingDb);
  await streams.init();
  const notifier = new Notifier(streams);
  // Guests reach only the spec's Guest Access endpoints, whichever area serves them.
  const router = new GuestAwareRouter();
  const closers: (() => Promise<void> | void)[] = [];

  // The bus the in-process services' outboxes publish on: the caller's, or one of our own.
  let bus: EventBus | undefined = opts.bus;
  const ownBus = (): EventBus => {
    if (!bus) {
      const created = createEventBus(config.kafkaBrokers, logger, "nova-homeserver", config.kafkaNamespace);
      bus = created;
      closers.push(() => created.close());
    }
    return bus;
  };

  const hooks = new Hooks();
  let identity: IdentityClient;
  let identityAdmin: IdentityAdminClient | null = null;
  if (opts.remoteIdentity) {
    identity = await opts.remoteIdentity({ hooks, logger, onClose: (fn) => closers.push(fn) });
    identityAdmin = opts.remoteIdentityAdmin ?? null;
  } else {
    const local = createIdentity(databases.get("identity"), {
      serverName: config.serverName,
      accessTokenTtlMs: config.accessTokenTtlMs,
      loginFailuresPerMinute: config.loginFailuresPerMinute,
      onDeviceCreated: (userId, deviceId) => hooks.emit("deviceCreated", { userId, deviceId }),
      onDeviceRevoked: (userId, deviceId) => hooks.emit("deviceRevoked", { userId, deviceId }),
    });
    identity = local;
    identityAdmin = createIdentityAdmin(databases.get("identity"), local);
    // Identity's events (user.registered, device.revoked…) leave its outbox on the bus.
    const outbox = await startOutbox(databases.get("identity"), ownBus(), logger, config.outbox);
    closers.push(() => outbox.stop());
  }

  // The homeserver's own events (room events with push verdicts, memberships, receipts) leave
  // its outbox on the bus for the companion services (notifications first).
  const messagingOutbox = await startOutbox(databases.get("messaging"), ownBus(), logger, config.outbox);
  closers.push(() => messagingOutbox.stop());

  const ctx: NovaContext = {
    config,
    logger,
    databases,
    identity,
    streams,
    notifier,
    ephemeral: new EphemeralClock(),
    hooks,
    router,
    syncProviders: [],
    onClose: (fn) => closers.push(fn),
    outboxWritten: () => messagingOutbox.wake(),
  };

  mountDiscovery(ctx);
  const uia = mountAccount(ctx);
  mountEmail(ctx, uia);
  const rooms = mountRooms(ctx);
  const moderation = mountModeration(ctx, { rooms });
  mountDeactivate(ctx, { rooms, uia });
  const client = mountClient(ctx, { rooms, uia, unreadPort: unreadPortOf(rooms) });
  rooms.useIgnoredUsers(ignoredUsersPort(client.accountData, ctx));
  rooms.usePushVerdicts(pushVerdictsOf(client.pushRules, client.pushOutcomes));
  // Areas mount here, in dependency order. Each registers its routes and sync providers on ctx.
  // rooms (server/rooms) → client config & ephemeral (account data, filters, push rules, typing,
  // receipts, devices, profile) → crypto (crypto/) → /sync (sync/) → WebSocket sync → calls.
  const crypto = mountCrypto(ctx, { rooms, uia });
  // /sync (sync/routes.ts): after every area that registers a sync provider.
  const sync = mountSync(ctx, { rooms, presence: client.presence });
  // Simplified sliding sync (MSC4186) over the same positions and notifier.
  const sliding = mountSlidingSync(ctx, { rooms, client, crypto, engine: sync, presence: client.presence });
  // WebSocket sync (sync/ws) asks the same engine.
  const wsSync = await mountWebSocketSync(ctx, {
    engine: sync,
    roomsOf: (u) => rooms.activeRoomIds(u),
    holdPresence: (u, p) => client.presence.hold(u, p),
    slidingSync: slidingSyncSocketPort(sliding),
  });
  const calls = await mountCalls(ctx, { rooms });
  // Media in-process (npm start): its routes on this router, its outbox on the same bus.
  let media: Media | null = null;
  if (databases.has("media")) {
    media = await createMediaFrom(databases.get("media"), config, logger, identity);
    media.mount(router);
    await media.start();
    const started = media;
    const outbox = await startOutbox(databases.get("media"), ownBus(), logger, config.outbox);
    closers.push(async () => {
      await outbox.stop();
      await started.stop();
    });
  }

  // Notifications in-process: pushers and /notifications on this router; it hears the
  // homeserver's room events and identity's device revocations on the same bus.
  let notifications: Notifications | null = null;
  if (databases.has("notifications")) {
    const started = createNotifications(databases.get("notifications"), config, ownBus(), logger);
    started.mount(router);
    await started.start();
    notifications = started;
    closers.push(() => started.stop());
  }

  // The social services (graph, content, feed) on their own databases, after the media they show.
  const social = await mountSocial({
    config,
    logger,
    databases,
    router,
    bus: ownBus,
    media,
    onClose: (fn) => closers.push(fn),
  });
  // Search in-process (its read model's consumers on the same bus, /_nova/v1/search), or its
  // gRPC in distributed mode; POST /search is answered here, under the rooms' visibility rules.
  const search = await mountSearch(ctx, { router, rooms, databases, bus: ownBus, identity, config, logger });

  // Synapse's admin API (server/admin): after the areas whose services it calls.
  mountAdmin(ctx, { rooms, identityAdmin });

  const limiter = rateLimitsFor(config, identity, logger);
  if (limiter.redis) closers.push(() => limiter.redis?.disconnect());
  const http = new HttpServer({
    router,
    logger,
    limiter: limiter.limits,
    maxRequestBody: config.maxRequestBody,
    slowRequestMs: config.slowRequestMs,
    authenticate: (token) => identity.verifyToken(token),
    clientAddress: new ClientAddress(config.trustedProxies),
  });
  wsSync.attach(http);
  const ready = readiness({
    databases: () => databases.ping(),
    shutdown: () => (http.isDraining() ? "shutting down" : null),
  });
  mountProbes(router, ready, identity);
  // SIGTERM: long-polls answer with the current token before the connections close.
  http.onDrain(() => {
    sync.drain();
    sliding.drain();
  });
  // `nova backup` asks this process for a consistent copy of its embedded database.
  const store = databases.embeddedStore();
  if (store) closers.push((await serveOpsSocket(store, logger)).close);
  let port: number;
  let adminPort: number | null = null;
  try {
    port = await http.listen(config.host, config.port, { reusePort: config.reusePort });
    const admin = await startAdminListener(config, "homeserver", logger, ready);
    if (admin) {
      adminPort = admin.port;
      closers.push(admin.close);
    }
  } catch (err) {
    await http.close();
    // Refused (address in use): what was opened is closed, so the process can exit cleanly.
    for (const fn of closers.reverse()) await fn();
    await databases.close();
    throw err;
  }
  logger.info({ host: config.host, port, serverName: config.serverName }, "nova listening");

  let closed = false;
  return {
    ctx,
    identity,
    rooms,
    crypto,
    client,
    sync,
    calls,
    media,
    notifications,
    content: social.content,
    graph: social.graph,
    search,
    moderation,
    http,
    port,
    adminPort,
    baseUrl: `http://${config.host}:${port}`,
    async close() {
      if (closed) return;
      closed = true;
      await http.close();
      for (const fn of closers.reverse()) await fn();
      await databases.close();
    },
  };
}
