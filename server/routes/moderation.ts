import type { NovaContext } from "../context.ts";
import type { RoomsApi } from "../rooms/service.ts";
import type { ModerationTables } from "./moderation.tables.ts";
import { OpenIdRepository } from "./openid.repository.ts";
import { mountOpenIdRoutes } from "./openid.routes.ts";
import { OpenIdService } from "./openid.ts";
import { ReportsRepository } from "./reports.repository.ts";
import { mountReportRoutes } from "./reports.routes.ts";
import { ReportsService } from "./reports.ts";
import { mountWhoisRoutes } from "./whois.routes.ts";

export type Moderation = { reports: ReportsRepository; openid: OpenIdService };

/** Mounts whois, OpenID tokens and content reports; returns the reports store for the admin API. */
export function mountModeration(ctx: NovaContext, deps: { rooms: RoomsApi }): Moderation {
  const db = ctx.databases.get<ModerationTables>("messaging").db;
  const { router, identity, config } = ctx;
  const reports = new ReportsRepository(db);
  const openid = new OpenIdService(new OpenIdRepository(db));
  mountWhoisRoutes(router, identity, config.serverName);
  mountOpenIdRoutes(router, openid, config.serverName);
  mountReportRoutes(router, new ReportsService(reports, deps.rooms, identity, config.serverName));
  return { reports, openid };
}
