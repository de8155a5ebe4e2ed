import type { Kysely } from "kysely";
import type { NovaContext } from "../server/context.ts";
import type { RoomMembership } from "../server/rooms/membership.ts";
import type { UserInteractiveAuth } from "../server/uia.ts";
import { mountBackupRoutes } from "./backup.routes.ts";
import { KeyBackup } from "./backup.ts";
import { mountDehydratedRoutes } from "./dehydrated.routes.ts";
import { DehydratedDevices } from "./dehydrated.ts";
import { KeyServer } from "./key-server.ts";
import { mountKeyRoutes } from "./routes.ts";
import { DeviceListsProvider, KeyCountsProvider, ToDeviceProvider } from "./sync-providers.ts";
import type { CryptoTables } from "./tables.ts";
import { TXN_TTL_MS } from "./to-device.ts";

/** What the crypto area exposes on the Nova object (tests, benchmarks, other areas). */
export type CryptoService = {
  keys: KeyServer;
  backup: KeyBackup;
  dehydrated: DehydratedDevices;
};

/**
 * Mounts the E2EE key server: /keys/*, /sendToDevice, cross-signing, /room_keys, dehydrated
 * devices, its /sync providers, and the hooks that keep device lists current (new and deleted
 * devices, membership changes).
 */
export function mountCrypto(
  ctx: NovaContext,
  deps: { rooms: RoomMembership; uia: UserInteractiveAuth },
): CryptoService {
  const db = ctx.databases.get<CryptoTables>("messaging").db as Kysely<CryptoTables>;
  const keys = new KeyServer({
    db,
    streams: ctx.streams,
    notifier: ctx.notifier,
    identity: ctx.identity,
    rooms: deps.rooms,
    serverName: ctx.config.serverName,
  });
  const backup = new KeyBackup(db);
  const dehydrated = new DehydratedDevices(keys, db);

  mountKeyRoutes(ctx, keys, deps.uia);
  mountBackupRoutes(ctx, backup);
  mountDehydratedRoutes(ctx, dehydrated);
  ctx.syncProviders.push(
    new ToDeviceProvider(keys),
    new DeviceListsProvider(keys),
    new KeyCountsProvider(keys),
  );

  ctx.hooks.on("deviceCreated", (e) => keys.deviceCreated(e.userId, e.deviceId));
  ctx.hooks.on("deviceRevoked", (e) => keys.deviceRevoked(e.userId, e.deviceId));
  ctx.hooks.on("deviceRenamed", (e) => keys.deviceRenamed(e.userId, e.deviceId, e.displayName));
  ctx.hooks.on("membershipChanged", (e) => keys.membershipChanged(e));

  const prune = setInterval(() => {
    keys.toDevice.pruneTxns(Date.now() - TXN_TTL_MS).catch((err: unknown) => {
      ctx.logger.warn({ err }, "pruning to-device txn ids failed");
    });
  }, 3600_000);
  prune.unref();
  ctx.onClose(() => clearInterval(prune));

  return { keys, backup, dehydrated };
}
