import { z } from "zod";
import type { LoginResult } from "../../companion-services/identity/client.ts";
import { forbidden, invalidParam, MatrixError } from "../../companion-services/platform/errors.ts";
import type { AuthInfo, Request } from "../../companion-services/platform/http/router.ts";
import type { NovaContext } from "../context.ts";
import { EMAIL_STAGE, emailIdentityStage, validatedEmail } from "../email/stage.ts";
import { type StageHandler, type UiaAuth, UserInteractiveAuth, uiaAuthSchema } from "../uia.ts";

const registerBody = z.object({
  username: z.string().min(1).max(200).optional(),
  password: z.string().min(1).max(512).optional(),
  device_id: z.string().min(1).max(255).optional(),
  initial_device_display_name: z.string().max(255).optional(),
  inhibit_login: z.boolean().optional(),
  refresh_token: z.boolean().optional(),
  /** A guest upgrading itself to a full account (spec "Guest Access"). */
  guest_access_token: z.string().min(1).max(1024).optional(),
  auth: uiaAuthSchema.optional(),
});
const registerParams = registerBody.omit({ auth: true });

const guestRegisterBody = z.object({
  initial_device_display_name: z.string().max(255).optional(),
  refresh_token: z.boolean().optional(),
});

const loginBody = z.object({
  type: z.string(),
  identifier: z
    .object({
      type: z.string(),
      user: z.string().optional(),
      medium: z.string().optional(),
      address: z.string().max(1024).optional(),
    })
    .passthrough()
    .optional(),
  user: z.string().optional(),
  /** The r0 spelling of an m.id.thirdparty identifier (Synapse still reads it). */
  medium: z.string().optional(),
  address: z.string().max(1024).optional(),
  password: z.string().optional(),
  device_id: z.string().min(1).max(255).optional(),
  initial_device_display_name: z.string().max(255).optional(),
  refresh_token: z.boolean().optional(),
});

const refreshBody = z.object({ refresh_token: z.string().min(1) });

function loginResponse(ctx: NovaContext, r: LoginResult) {
  return {
    user_id: r.userId,
    device_id: r.deviceId,
    access_token: r.accessToken,
    home_server: ctx.config.serverName,
    well_known: { "m.homeserver": { base_url: ctx.config.publicBaseUrl } },
    ...(r.refreshToken ? { refresh_token: r.refreshToken, expires_in_ms: r.expiresInMs } : {}),
  };
}

/** The password stage, shared by every endpoint that re-authenticates its caller. */
export function passwordStage(ctx: NovaContext, auth: AuthInfo) {
  return async (a: UiaAuth) => {
    const user = a.identifier?.user ?? a.user;
    if (!a.password) return false;
    if (user && user !== auth.userId && user !== auth.userId.slice(1).split(":")[0]) {
      // As Synapse: another user's right password authenticates them, who may not do this (403);
      // a wrong one is a failed stage like any other.
      const other = user.startsWith("@") ? user : `@${user}:${ctx.config.serverName}`;
      if (await ctx.identity.checkPassword(other, a.password).catch(() => false)) {
        throw new MatrixError(403, "M_FORBIDDEN", "Invalid auth: the password is another user's");
      }
      return false;
    }
    return ctx.identity.checkPassword(auth.userId, a.password);
  };
}

/** The user a login names: by user id, or (m.id.thirdparty) by a bound 3PID. */
async function loginUser(ctx: NovaContext, body: z.infer<typeof loginBody>): Promise<string> {
  const id =
    body.identifier ??
    (body.medium !== undefined && body.address !== undefined
      ? { type: "m.id.thirdparty", medium: body.medium, address: body.address }
      : undefined);
  if (id?.type === "m.id.thirdparty") {
    if (!id.medium || !id.address) throw invalidParam("Invalid thirdparty identifier");
    const owner = await ctx.identity.threepids.userIdByThreepid(id.medium, id.address);
    // As for a wrong password: the answer does not say whether the address is bound.
    if (!owner) throw forbidden("Invalid username or password");
    return owner;
  }
  const user = id?.type === "m.id.user" ? id.user : body.user;
  if (!user) throw new MatrixError(400, "M_INVALID_PARAM", "identifier.user is required");
  return user;
}

/** The guest whose access token a registration carries; 403 when the token is not a guest's. */
async function upgradingGuest(ctx: NovaContext, token: string): Promise<string> {
  const auth = await ctx.identity.verifyToken(token);
  if (!auth.isGuest) throw forbidden("guest_access_token is not a guest's access token");
  return auth.userId;
}

/** A taken username is M_USER_IN_USE, unless it is the upgrading guest's own. */
async function checkUsername(ctx: NovaContext, localpart: string, guestUserId: string | undefined) {
  if (guestUserId !== undefined) {
    // Synapse: a guest upgrades to its own user id only.
    if (guestUserId.slice(1).split(":")[0] === localpart) return;
    throw new MatrixError(400, "M_USER_IN_USE", "User ID already taken.");
  }
  if (!(await ctx.identity.isLocalpartAvailable(localpart))) {
    throw new MatrixError(400, "M_USER_IN_USE", "User ID already taken.");
  }
}

/** The key under which a registration's UIA session keeps the user it registered. */
const REGISTERED = "nova.registered";

/**
 * The answer to a registration repeated with its completed session: the same user, logged in
 * again with the session's password (a new device unless the request names one), or only its
 * id with `inhibit_login`.
 */
async function registeredAgain(
  ctx: NovaContext,
  userId: string,
  clientDict: Record<string, unknown>,
  ip: string | undefined,
) {
  const parsed = registerParams.safeParse(clientDict);
  const params = parsed.success ? parsed.data : {};
  if (params.inhibit_login || !params.password) {
    return { body: { user_id: userId, home_server: ctx.config.serverName } };
  }
  const result = await ctx.identity.login({
    user: userId,
    password: params.password,
    deviceId: params.device_id,
    initialDeviceDisplayName: params.initial_device_display_name,
    refreshToken: params.refresh_token,
    ip,
  });
  return { body: loginResponse(ctx, result) };
}

export function mountAccount(ctx: NovaContext): UserInteractiveAuth {
  const { router, identity, config } = ctx;
  const uia = new UserInteractiveAuth();

  router.post(
    "/_matrix/client/v3/register",
    async (req: Request) => {
      const kind = req.query.get("kind") ?? "user";
      if (kind === "guest") {
        if (!config.guestAccess) {
          throw new MatrixError(403, "M_GUEST_ACCESS_FORBIDDEN", "Guest access is disabled");
        }
        const guest = req.json(guestRegisterBody);
        const result = await identity.register({
          guest: true,
          initialDeviceDisplayName: guest.initial_device_display_name,
          refreshToken: guest.refresh_token,
          ip: req.ip,
        });
        if (!("accessToken" in result)) throw new MatrixError(500, "M_UNKNOWN", "Guest has no session");
        return { body: loginResponse(ctx, result) };
      }
      if (kind !== "user") throw new MatrixError(400, "M_INVALID_PARAM", "kind must be user or guest");
      if (config.registration === "closed") throw forbidden("Registration is disabled");
      const { auth: uiaAuth, ...first } = req.json(registerBody);
      // A guest upgrading itself keeps its user id; its token says which guest it is.
      const guestUserId = first.guest_access_token
        ? await upgradingGuest(ctx, first.guest_access_token)
        : undefined;
      // Validate the username before UIA so a taken name fails fast, as Synapse does.
      // (Not for a repeat of a registration already done: the name is the one it took.)
      const repeat = uia.recalled(uiaAuth?.session, REGISTERED) !== undefined;
      if (first.username !== undefined && !repeat) {
        await checkUsername(ctx, first.username.toLowerCase(), guestUserId);
      }
      // As Synapse: with email on, a flow that binds a validated email beside the one without.
      const base = config.registration === "token" ? ["m.login.registration_token"] : [];
      // Synapse adds m.login.dummy to the flow without email then, so that completing the token
      // stage first does not finish registration before the client's email stage.
      const withoutEmail = base.length && !config.email ? base : [...base, "m.login.dummy"];
      const flows = [withoutEmail, ...(config.email ? [[...base, EMAIL_STAGE]] : [])];
      const handlers: Record<string, StageHandler> = {
        "m.login.dummy": async () => true,
        "m.login.registration_token": async (a) => {
          if (!a.token || !(await identity.validateRegistrationToken(a.token))) {
            throw new MatrixError(401, "M_FORBIDDEN", "Invalid registration token");
          }
          // Kept with the UIA session: the email stage may complete the flow in a later request.
          return { token: a.token };
        },
      };
      if (config.email) handlers[EMAIL_STAGE] = emailIdentityStage(identity);
      const { session, clientDict, results } = await uia.run(
        uiaAuth,
        flows,
        handlers,
        {},
        {
          operation: "POST /_matrix/client/v3/register",
          clientDict: first,
          keepCompleted: true,
        },
      );
      // A repeat of a completed registration answers for the user it registered (Synapse).
      const registered = results[REGISTERED]?.userId;
      if (typeof registered === "string") return await registeredAgain(ctx, registered, clientDict, req.ip);
      const usedToken = results["m.login.registration_token"]?.token;
      const threepid = validatedEmail(results);
      if (threepid && (await identity.threepids.userIdByThreepid(threepid.medium, threepid.address))) {
        throw new MatrixError(400, "M_THREEPID_IN_USE", "Email is already in use");
      }
      // The session's parameters: this request's, or an earlier stage's when this one has none.
      const parsed = registerParams.safeParse(clientDict);
      if (!parsed.success) throw invalidParam("invalid registration parameters");
      const body = parsed.data;
      if (!body.password) throw invalidParam("password is required");
      const upgrade = body.guest_access_token
        ? await upgradingGuest(ctx, body.guest_access_token)
        : undefined;
      if (body.username !== undefined && body.username !== first.username) {
        await checkUsername(ctx, body.username.toLowerCase(), upgrade);
      }
      const result = await identity.register({
        upgradeGuestUserId: upgrade,
        localpart: body.username?.toLowerCase() ?? (upgrade ? undefined : `user${Date.now().toString(36)}`),
        password: body.password,
        deviceId: body.device_id,
        initialDeviceDisplayName: body.initial_device_display_name,
        inhibitLogin: body.inhibit_login,
        refreshToken: body.refresh_token,
        ip: req.ip,
      });
      uia.remember(session, REGISTERED, { userId: result.userId });
      if (typeof usedToken === "string") await identity.consumeRegistrationToken(usedToken);
      if (threepid) await identity.threepids.addThreepid(result.userId, threepid);
      if (!("accessToken" in result))
        return { body: { user_id: result.userId, home_server: config.serverName } };
      return { body: loginResponse(ctx, result) };
    },
    { auth: "none" },
  );

  router.get(
    "/_matrix/client/v3/register/available",
    async (req) => {
      const username = req.query.get("username");
      if (!username) throw new MatrixError(400, "M_MISSING_PARAM", "username is required");
      if (!(await identity.isLocalpartAvailable(username.toLowerCase()))) {
        throw new MatrixError(400, "M_USER_IN_USE", "User ID already taken.");
      }
      return { body: { available: true } };
    },
    { auth: "none" },
  );

  router.get(
    "/_matrix/client/v1/register/m.login.registration_token/validity",
    async (req) => {
      const token = req.query.get("token");
      if (!token) throw new MatrixError(400, "M_MISSING_PARAM", "token is required");
      return { body: { valid: await identity.validateRegistrationToken(token) } };
    },
    { auth: "none" },
  );

  router.get("/_matrix/client/v3/login", () => ({ body: { flows: [{ type: "m.login.password" }] } }), {
    auth: "none",
  });

  router.post(
    "/_matrix/client/v3/login",
    async (req) => {
      const body = req.json(loginBody);
      if (body.type !== "m.login.password")
        throw new MatrixError(400, "M_UNKNOWN", `Unsupported login type ${body.type}`);
      if (!body.password) throw new MatrixError(400, "M_MISSING_PARAM", "password is required");
      const user = await loginUser(ctx, body);
      const result = await identity.login({
        user,
        password: body.password,
        deviceId: body.device_id,
        initialDeviceDisplayName: body.initial_device_display_name,
        refreshToken: body.refresh_token,
        ip: req.ip,
      });
      return { body: loginResponse(ctx, result) };
    },
    { auth: "none" },
  );

  router.post(
    "/_matrix/client/v3/refresh",
    async (req) => {
      const body = req.json(refreshBody);
      const r = await identity.refresh(body.refresh_token);
      return {
        body: { access_token: r.accessToken, refresh_token: r.refreshToken, expires_in_ms: r.expiresInMs },
      };
    },
    { auth: "none" },
  );

  router.get("/_matrix/client/v3/account/whoami", (req) => ({
    body: { user_id: req.auth!.userId, device_id: req.auth!.deviceId, is_guest: req.auth!.isGuest },
  }));

  router.post("/_matrix/client/v3/logout", async (req) => {
    await identity.logout(req.auth!.sessionId);
    return { body: {} };
  });

  router.post("/_matrix/client/v3/logout/all", async (req) => {
    await identity.logoutAll(req.auth!.userId);
    return { body: {} };
  });

  return uia;
}
