import type { IdentityClient } from "../../companion-services/identity/client.ts";
import type { Databases } from "../../companion-services/platform/database.ts";
import type { EventBus } from "../../companion-services/platform/event-bus.ts";
import { adminCheck } from "../../companion-services/platform/http/admin-routes.ts";
import type { Router } from "../../companion-services/platform/http/router.ts";
import type { Logger } from "../../companion-services/platform/logger.ts";
import type { SearchClient } from "../../companion-services/search/client.ts";
import { createSearch, type Search } from "../../companion-services/search/index.ts";
import type { NovaConfig } from "../config.ts";
import type { NovaContext } from "../context.ts";
import type { RoomsService } from "../rooms/service.ts";
import { mountMatrixSearch } from "./routes.ts";

/**
 * Search for the homeserver: in-process when this process opened search's database (npm start:
 * its consumers on the same bus, `/_nova/v1/search` on this router), else over gRPC when
 * SEARCH_GRPC_ADDRESS names it (distributed mode). Either way POST /search is the homeserver's,
 * since only it can apply the rooms' visibility rules. Without either, POST /search is not served.
 */
export async function mountSearch(
  ctx: NovaContext,
  deps: {
    router: Router;
    rooms: RoomsService;
    databases: Databases;
    bus: () => EventBus;
    identity: IdentityClient;
    config: NovaConfig;
    logger: Logger;
  },
): Promise<Search | null> {
  let client: SearchClient | null = null;
  let search: Search | null = null;
  if (deps.databases.has("search")) {
    const started = createSearch(deps.databases.get("search"), deps.bus(), deps.logger, deps.config);
    started.mount(deps.router, { isAdmin: adminCheck(deps.identity) });
    await started.start();
    ctx.onClose(() => started.stop());
    search = started;
    client = started.service;
  } else if (deps.config.search.grpcAddress) {
    // gRPC (grpc-js, protobufjs: ~130 files) only loads in a process that calls search remotely.
    const { GrpcSearchClient } = await import("../../companion-services/search/grpc-client.ts");
    const remote = new GrpcSearchClient({
      address: deps.config.search.grpcAddress,
      deadlineMs: deps.config.rpcDeadlineMs,
    });
    ctx.onClose(() => remote.close());
    client = remote;
  }
  if (client) mountMatrixSearch(ctx, deps.router, deps.rooms, client);
  return search;
}
