import type { NovaContext } from "../context.ts";
import { mountHierarchyRoutes } from "./hierarchy.routes.ts";
import { kickGuestsOnRevocation } from "./membership/guests.ts";
import { mountMembershipRoutes } from "./membership.routes.ts";
import { TimestampReads } from "./read/timestamp.ts";
import { mountRelationRoutes } from "./relations.routes.ts";
import { mountKeyRoutes, mountRoomRoutes } from "./routes.ts";
import { RoomsService } from "./service.ts";
import { TimestampsRepository } from "./storage/timestamps.repository.ts";
import { RoomsSyncProvider } from "./sync-provider.ts";
import type { RoomsTables } from "./tables.ts";
import { mountThirdPartyRoutes } from "./third-party/routes.ts";
import { mountTimestampRoutes } from "./timestamp.routes.ts";

export { RoomsService } from "./service.ts";

/** Mounts rooms and room events: HTTP routes, the rooms sync stream; returns the service other areas use. */
export function mountRooms(ctx: NovaContext): RoomsService {
  const db = ctx.databases.get<RoomsTables>("messaging").db;
  const rooms = new RoomsService(ctx, db);
  mountRoomRoutes(ctx, rooms);
  mountMembershipRoutes(ctx.router, rooms);
  mountKeyRoutes(ctx, rooms);
  mountHierarchyRoutes(ctx, rooms);
  mountRelationRoutes(ctx, rooms);
  mountThirdPartyRoutes(ctx.router, rooms);
  mountTimestampRoutes(ctx.router, new TimestampReads(new TimestampsRepository(db), rooms.reads.state));
  kickGuestsOnRevocation(ctx, rooms);
  ctx.syncProviders.push(new RoomsSyncProvider(rooms, rooms.reads.sync));
  // Another replica wrote these rooms/users: drop what this process cached about them. (Writes
  // stay correct without this — each checks the room's head — but reads would lag.)
  ctx.notifier.onRemoteWrite((_position, touch) => {
    for (const roomId of touch.roomIds ?? []) rooms.invalidateRoom(roomId);
    for (const userId of touch.userIds ?? []) rooms.invalidateUser(userId);
  });
  return rooms;
}
