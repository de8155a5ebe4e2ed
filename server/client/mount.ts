import type { NovaContext } from "../context.ts";
import type { UserInteractiveAuth } from "../uia.ts";
import { mountAccountDataRoutes } from "./account-data.routes.ts";
import { AccountDataService } from "./account-data.ts";
import { mountDeviceRoutes } from "./devices.routes.ts";
import { mountEphemeralRoutes } from "./ephemeral.routes.ts";
import { mountPasswordRoutes } from "./password.routes.ts";
import { mountPresenceRoutes } from "./presence.routes.ts";
import { PresenceService } from "./presence.ts";
import { mountProfileRoutes } from "./profile.routes.ts";
import { PushOutcomeMemo } from "./push-outcomes.ts";
import { PushRulesService } from "./push-rules/push-rules.ts";
import { mountPushRuleRoutes } from "./push-rules/routes.ts";
import { ReceiptsService } from "./receipts.ts";
import { copySettingsOnRoomUpgrade } from "./room-upgrade.ts";
import type { ClientRooms } from "./rooms-port.ts";
import { ClientSyncProvider } from "./sync-provider.ts";
import type { ClientTables } from "./tables.ts";
import { mountTagRoutes } from "./tags.routes.ts";
import { TypingService } from "./typing.ts";
import { UnreadCounter, type UnreadRoomsPort } from "./unread.ts";

/** The client-config area's services, for the areas mounted after it (sync, WebSocket sync). */
export type ClientArea = {
  accountData: AccountDataService;
  pushRules: PushRulesService;
  /** Push-rule outcomes of recent events, written with the event and read by unread counting. */
  pushOutcomes: PushOutcomeMemo;
  typing: TypingService;
  receipts: ReceiptsService;
  presence: PresenceService;
  /** Unread notification counts (null without a rooms port): /sync and sliding sync share it. */
  unread: UnreadCounter | null;
};

/**
 * Client config and ephemeral data: account data, push rules, typing, receipts, read markers,
 * devices, profile, password, presence, user directory. Mount after rooms (its sync provider adds to
 * the room entries the rooms provider builds).
 */
export function mountClient(
  ctx: NovaContext,
  deps: { rooms: ClientRooms; uia: UserInteractiveAuth; unreadPort?: UnreadRoomsPort },
): ClientArea {
  const db = ctx.databases.get<ClientTables>("messaging").db;
  const { rooms } = deps;

  const accountData = new AccountDataService(db, ctx.streams);
  const pushRules = new PushRulesService(db, ctx.streams, ctx.notifier);
  accountData.setLiveContent(async (userId, type) =>
    type === "m.push_rules" ? { global: await pushRules.ruleset(userId) } : undefined,
  );
  const typing = new TypingService(ctx.ephemeral, ctx.notifier);
  const receipts = new ReceiptsService(
    db,
    ctx.streams,
    deps.unreadPort ? (roomId, eventId) => deps.unreadPort!.eventPosition(roomId, eventId) : null,
  );
  const presence = new PresenceService(ctx.ephemeral, ctx.notifier, (u) => rooms.joinedRoomIds(u));
  // Someone who leaves (or is kicked from) a room stops typing there at once.
  ctx.hooks.on("membershipChanged", (e) => {
    if (e.membership !== "join") typing.set(e.roomId, e.userId, false, 0);
  });
  copySettingsOnRoomUpgrade(ctx, pushRules, accountData);
  ctx.onClose(() => {
    typing.close();
    presence.close();
  });

  mountAccountDataRoutes(ctx.router, accountData);
  mountTagRoutes(ctx.router, accountData);
  mountPushRuleRoutes(ctx.router, pushRules);
  mountEphemeralRoutes(ctx, rooms, typing, receipts);
  mountDeviceRoutes(ctx, deps.uia);
  mountPasswordRoutes(ctx, deps.uia);
  mountProfileRoutes(ctx, rooms, deps.unreadPort ? () => deps.unreadPort!.openRoomIds() : null);
  mountPresenceRoutes(ctx, presence, rooms);

  const pushOutcomes = new PushOutcomeMemo();
  const unread = deps.unreadPort
    ? new UnreadCounter(
        deps.unreadPort,
        receipts.repo,
        { index: ctx.notifier.changes, current: () => ctx.streams.current() },
        pushOutcomes,
      )
    : null;
  ctx.syncProviders.push(
    new ClientSyncProvider(
      rooms,
      accountData,
      typing,
      receipts,
      presence,
      pushRules,
      unread,
      deps.unreadPort ?? null,
    ),
  );
  return { accountData, pushRules, pushOutcomes, typing, receipts, presence, unread };
}
