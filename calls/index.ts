import type { NovaContext } from "../server/context.ts";
import { mountTurnRoutes } from "./turn.routes.ts";

/** Mounts the calls area: TURN credentials, and (when wired with rooms) group-call signaling on the SFU. */
export function mountCalls(ctx: NovaContext): void {
  mountTurnRoutes(ctx);
}
