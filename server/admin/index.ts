import { createRequire } from "node:module";
import type { IdentityAdminClient } from "../../companion-services/identity/admin-client.ts";
import { MatrixError } from "../../companion-services/platform/errors.ts";
import { ADMIN, AdminRoutes, adminCheck } from "../../companion-services/platform/http/admin-routes.ts";
import type { NovaContext } from "../context.ts";
import type { RoomsService } from "../rooms/service.ts";
import type { ModerationTables } from "../routes/moderation.tables.ts";
import { AuditRepository } from "./audit.repository.ts";
import { mountServerNotices, NoticeRoomsRepository } from "./notices.ts";
import { EventReportsRepository, mountAdminReportRoutes } from "./reports.routes.ts";
import { AdminRoomsRepository } from "./rooms.repository.ts";
import { mountAdminRoomRoutes } from "./rooms.routes.ts";
import { AdminRooms } from "./rooms.service.ts";
import { mountStatusRoutes } from "./status.routes.ts";
import type { AdminOwnTables, AdminTables } from "./tables.ts";
import { mountAdminTokenRoutes } from "./tokens.routes.ts";
import { mountAdminUserRoutes } from "./users.routes.ts";
import { AdminUsers } from "./users.service.ts";

export type AdminDeps = {
  rooms: RoomsService;
  /** Identity's admin operations; null when identity runs in another process (see docs/admin-api.md). */
  identityAdmin: IdentityAdminClient | null;
  /** Localpart of the user server notices come from (default "server"). */
  noticesLocalpart?: string;
};

const VERSION = novaVersion();

/**
 * Nova's version from its package.json: two folders up from the source (server/admin/), three
 * from the build (dist/server/admin/, `npm run build`).
 */
function novaVersion(): string {
  const require = createRequire(import.meta.url);
  for (const file of ["../../package.json", "../../../package.json"]) {
    try {
      const pkg = require(file) as { name?: string; version?: string };
      if (pkg.name === "nova" && pkg.version) return pkg.version;
    } catch {
      // Not at this depth: try the next one.
    }
  }
  throw new Error("Nova's package.json was not found above server/admin/");
}

/**
 * Synapse's admin API under /_synapse/admin (docs/admin-api.md), so existing tools (synadm,
 * synapse-admin) manage Nova: only server admins, every call in the audit log.
 */
export function mountAdmin(ctx: NovaContext, deps: AdminDeps): { audit: AuditRepository } {
  const audit = new AuditRepository(ctx.databases.get<AdminOwnTables>("messaging").db);
  const routes = new AdminRoutes(ctx.router, adminCheck(ctx.identity), audit, ctx.logger);

  // Synapse answers server_version without a token too; tools probe it before logging in.
  ctx.router.get(`${ADMIN}/v1/server_version`, () => ({ body: { server_version: `Nova ${VERSION}` } }), {
    auth: "none",
  });

  if (deps.identityAdmin) {
    const users = new AdminUsers(ctx, ctx.identity, deps.identityAdmin, deps.rooms);
    mountAdminUserRoutes(routes, users, ctx.identity, deps.rooms);
    mountAdminTokenRoutes(routes, ctx.identity, deps.identityAdmin);
  } else {
    const unavailable = () => {
      throw new MatrixError(
        501,
        "M_UNRECOGNIZED",
        "User administration needs identity in this process (npm start)",
      );
    };
    for (const p of ["/v2/users", "/v2/users/:userId"]) routes.get(p, unavailable);
  }
  const roomsRepo = new AdminRoomsRepository(
    ctx.databases.get<AdminTables>("messaging").db,
    ctx.config.serverName,
  );
  mountAdminRoomRoutes(routes, new AdminRooms(ctx, deps.rooms, roomsRepo), deps.rooms);
  const reports = new EventReportsRepository(ctx.databases.get<ModerationTables>("messaging").db);
  mountAdminReportRoutes(routes, reports, deps.rooms, (id) => roomsRepo.eventPdu(id));
  mountServerNotices(routes, {
    rooms: deps.rooms,
    identity: ctx.identity,
    repo: new NoticeRoomsRepository(ctx.databases.get<AdminOwnTables>("messaging").db),
    serverName: ctx.config.serverName,
    noticesLocalpart: deps.noticesLocalpart ?? "server",
  });
  mountStatusRoutes(routes);
  return { audit };
}
