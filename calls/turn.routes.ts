import type { NovaContext } from "../server/context.ts";
import { turnCredentials } from "./turn.ts";

/** `GET /voip/turnServer`: TURN credentials for the caller (spec §13.3.3). */
export function mountTurnRoutes(ctx: NovaContext): void {
  ctx.router.get("/_matrix/client/v3/voip/turnServer", (req) => ({
    body: turnCredentials(ctx.config.turn, req.auth!.userId),
  }));
}
