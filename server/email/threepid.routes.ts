import { z } from "zod";
import { MatrixError } from "../../companion-services/platform/errors.ts";
import type { NovaContext } from "../context.ts";
import { passwordStage } from "../routes/account.ts";
import { type UserInteractiveAuth, uiaAuthSchema } from "../uia.ts";

const addParams = z.object({
  client_secret: z.string().min(1).max(255),
  sid: z.string().min(1).max(255),
});
// A later UIA request may carry only `auth`: the first request's parameters hold.
const addBody = addParams.partial().extend({ auth: uiaAuthSchema.optional() });

const threepidBody = z.object({
  medium: z.enum(["email", "msisdn"]),
  address: z.string().min(1).max(1024),
  id_server: z.string().optional(),
});

const bindBody = z.object({
  client_secret: z.string(),
  sid: z.string(),
  id_server: z.string(),
  id_access_token: z.string().optional(),
});

/**
 * The account's 3PIDs (spec §"Adding Account Administrative Contact Information"): list, add a
 * validated email (UIA with the password, as Synapse), delete. Nova talks to no identity server:
 * bind is refused and unbind / delete answer `id_server_unbind_result: "no-support"`.
 */
export function mountThreepidRoutes(ctx: NovaContext, uia: UserInteractiveAuth): void {
  const { router, identity } = ctx;

  router.get("/_matrix/client/v3/account/3pid", async (req) => {
    const threepids = await identity.threepids.listThreepids(req.auth!.userId);
    return {
      body: {
        threepids: threepids.map((t) => ({
          medium: t.medium,
          address: t.address,
          validated_at: t.validatedAt,
          added_at: t.addedAt,
        })),
      },
    };
  });

  router.post("/_matrix/client/v3/account/3pid/add", async (req) => {
    const auth = req.auth!;
    const { auth: uiaAuth, ...first } = req.json(addBody);
    const { clientDict } = await uia.run(
      uiaAuth,
      [["m.login.password"]],
      { "m.login.password": passwordStage(ctx, auth) },
      {},
      { operation: `${req.method} ${req.path}`, clientDict: first },
    );
    const parsed = addParams.safeParse(clientDict);
    if (!parsed.success) throw new MatrixError(400, "M_MISSING_PARAM", "client_secret and sid are required");
    const body = parsed.data;
    const threepid = await identity.threepids.takeValidatedThreepid({
      sid: body.sid,
      clientSecret: body.client_secret,
    });
    if (!threepid) throw new MatrixError(400, "M_THREEPID_AUTH_FAILED", "No validated 3pid session found");
    await identity.threepids.addThreepid(auth.userId, threepid);
    return { body: {} };
  });

  router.post("/_matrix/client/v3/account/3pid/delete", async (req) => {
    const body = req.json(threepidBody);
    await identity.threepids.deleteThreepid(req.auth!.userId, body.medium, body.address);
    return { body: { id_server_unbind_result: "no-support" } };
  });

  router.post("/_matrix/client/v3/account/3pid/bind", async (req) => {
    req.json(bindBody);
    throw new MatrixError(
      400,
      "M_SERVER_NOT_TRUSTED",
      "This homeserver does not bind third-party identifiers on identity servers",
    );
  });

  router.post("/_matrix/client/v3/account/3pid/unbind", async (req) => {
    req.json(threepidBody);
    return { body: { id_server_unbind_result: "no-support" } };
  });
}
