import { z } from "zod";
import { MatrixError, missingToken } from "../../companion-services/platform/errors.ts";
import type { NovaContext } from "../context.ts";
import { EMAIL_STAGE, emailIdentityStage, validatedEmail } from "../email/stage.ts";
import type { UserInteractiveAuth } from "../uia.ts";
import { uiaAuthSchema } from "../uia.ts";
import { requirePassword } from "./devices.routes.ts";

const passwordBody = z.object({
  new_password: z.string().min(1).max(512),
  logout_devices: z.boolean().optional(),
  auth: uiaAuthSchema.optional(),
});
const passwordParams = passwordBody.omit({ auth: true });

/**
 * POST /account/password: with an access token, UIA with the current password, and the calling
 * session is kept; without one (a forgotten password, email on), UIA with m.login.email.identity
 * names the account by its validated email. Other devices are logged out unless
 * `logout_devices` is false (spec).
 */
export function mountPasswordRoutes(ctx: NovaContext, uia: UserInteractiveAuth): void {
  ctx.router.post(
    "/_matrix/client/v3/account/password",
    async (req) => {
      if (req.auth) {
        const body = req.json(passwordBody);
        await requirePassword(ctx, uia, req, body.auth);
        await ctx.identity.changePassword(req.auth.userId, body.new_password, {
          logoutDevices: body.logout_devices ?? true,
          keepSessionId: req.auth.sessionId,
        });
        return { body: {} };
      }
      if (!ctx.config.email) throw missingToken();
      const { auth, ...first } = req.json(passwordBody.partial({ new_password: true }));
      const { clientDict, results } = await uia.run(
        auth,
        [[EMAIL_STAGE]],
        { [EMAIL_STAGE]: emailIdentityStage(ctx.identity) },
        {},
        { operation: `${req.method} ${req.path}`, clientDict: first },
      );
      const params = passwordParams.safeParse(clientDict);
      if (!params.success) throw new MatrixError(400, "M_MISSING_PARAM", "new_password is required");
      const threepid = validatedEmail(results);
      const userId =
        threepid && (await ctx.identity.threepids.userIdByThreepid(threepid.medium, threepid.address));
      if (!userId) throw new MatrixError(404, "M_NOT_FOUND", "Email address not found");
      await ctx.identity.changePassword(userId, params.data.new_password, {
        logoutDevices: params.data.logout_devices ?? true,
      });
      return { body: {} };
    },
    { auth: "optional" },
  );
}
