import type { CryptoService } from "../../crypto/index.ts";
import type { SyncEngine } from "../../sync/engine.ts";
import type { PresencePort } from "../../sync/presence-port.ts";
import type { ClientArea } from "../client/mount.ts";
import { renderCounts } from "../client/unread.ts";
import type { NovaContext } from "../context.ts";
import type { RoomsService } from "../rooms/index.ts";
import { ConnectionsRepository } from "./connections.repository.ts";
import { SlidingExtensions } from "./extensions/index.ts";
import { PositionStore } from "./position-store.ts";
import { mountSlidingSyncRoutes } from "./routes.ts";
import { SlidingSyncService, type UnreadCounts } from "./service.ts";
import type { SlidingTables } from "./tables.ts";

export { slidingSyncSocketPort } from "./socket-port.ts";

/** Connections unused this long are gone (Synapse's CONNECTION_EXPIRY); clients get M_UNKNOWN_POS. */
const CONNECTION_EXPIRY_MS = 7 * 24 * 3600_000;
const EXPIRY_SWEEP_MS = 3600_000;

/**
 * Simplified sliding sync (MSC4186, the sync Element X requires). Mount after /sync: it reads
 * the same stream positions and wakes on the same notifier.
 */
export function mountSlidingSync(
  ctx: NovaContext,
  deps: {
    rooms: RoomsService;
    client: ClientArea;
    crypto: CryptoService;
    engine: SyncEngine;
    presence?: PresencePort;
  },
): SlidingSyncService {
  const repo = new ConnectionsRepository(ctx.databases.get<SlidingTables>("messaging").db);
  const { client } = deps;
  const positions = new PositionStore(repo, () => deps.rooms.multiReplica, ctx.logger);
  // Registered before the database closes (closers run in reverse): queued positions land first.
  ctx.onClose(() => positions.flush());
  const unread: UnreadCounts = async (userId, roomIds, upTo) => {
    const out = new Map<string, { notification_count: number; highlight_count: number }>();
    if (!client.unread || roomIds.length === 0) return out;
    const ruleset = await client.pushRules.cachedRuleset(userId);
    for (const [roomId, counts] of await client.unread.countMany(userId, roomIds, upTo, ruleset)) {
      out.set(roomId, renderCounts(counts, false).unread_notifications);
    }
    return out;
  };
  const service = new SlidingSyncService({
    rooms: deps.rooms,
    accountData: client.accountData,
    extensions: new SlidingExtensions({
      keys: deps.crypto.keys,
      accountData: client.accountData,
      receipts: client.receipts,
      typing: client.typing,
    }),
    unread,
    notifier: ctx.notifier,
    currentToken: () => deps.engine.currentToken(),
    repo,
    positions,
    logger: ctx.logger,
  });
  mountSlidingSyncRoutes(ctx.router, service, deps.presence);

  const sweep = setInterval(() => {
    repo.expire(Date.now() - CONNECTION_EXPIRY_MS).then(
      (n) => {
        if (n === 0) return;
        positions.dropMemory();
        ctx.logger.info({ expired: n }, "sliding sync connections expired");
      },
      (err: unknown) => ctx.logger.warn({ err }, "sliding sync expiry failed"),
    );
  }, EXPIRY_SWEEP_MS);
  sweep.unref();
  ctx.onClose(() => clearInterval(sweep));
  return service;
}
