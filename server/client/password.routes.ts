import { z } from "zod";
import type { NovaContext } from "../context.ts";
import type { UserInteractiveAuth } from "../uia.ts";
import { uiaAuthSchema } from "../uia.ts";
import { requirePassword } from "./devices.routes.ts";

const passwordBody = z.object({
  new_password: z.string().min(1).max(512),
  logout_devices: z.boolean().optional(),
  auth: uiaAuthSchema.optional(),
});

/**
 * POST /account/password: UIA with the current password; other devices are logged out unless
 * `logout_devices` is false, and the calling session is kept (spec).
 */
export function mountPasswordRoutes(ctx: NovaContext, uia: UserInteractiveAuth): void {
  ctx.router.post("/_matrix/client/v3/account/password", async (req) => {
    const body = req.json(passwordBody);
    await requirePassword(ctx, uia, req, body.auth);
    await ctx.identity.changePassword(req.auth!.userId, body.new_password, {
      logoutDevices: body.logout_devices ?? true,
      keepSessionId: req.auth!.sessionId,
    });
    return { body: {} };
  });
}
