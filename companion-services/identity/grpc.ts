import { fileURLToPath } from "node:url";
import * as grpc from "@grpc/grpc-js";
import { z } from "zod";
import type { Logger } from "../platform/logger.ts";
import { loadService } from "../platform/rpc/proto.ts";
import { listen, shutdown, unary } from "../platform/rpc/server.ts";
import type { IdentityAdminClient } from "./admin-client.ts";
import { addIdentityAdminService } from "./admin-grpc.ts";
import type { IdentityClient } from "./client.ts";
import { threepidHandlers } from "./threepids-grpc.ts";
import { deviceToWire, loginToWire, tokenToWire, userToWire } from "./wire.ts";

export const IDENTITY_PROTO = {
  file: fileURLToPath(new URL("./identity.proto", import.meta.url)),
  service: "nova.identity.v1.Identity",
} as const;

// Request schemas: what the proto allows is not enough (proto3 has no "required"); these say
// which fields must be present and within bounds before identity sees the call.
const id = z.string().min(1).max(255);
const userId = z.string().startsWith("@").max(255);
const secret = z.string().min(1).max(1024);
const optStr = z.string().max(1024).optional();
const optBool = z.boolean().optional();
const optInt = z.number().int().nonnegative().optional();

const schemas = {
  GetUser: z.object({ user_id: userId }),
  GetUsers: z.object({ user_ids: z.array(userId).max(1_000).optional() }),
  VerifyToken: z.object({ access_token: secret }),
  Login: z.object({
    user: id,
    password: secret,
    device_id: optStr,
    initial_device_display_name: optStr,
    refresh_token: optBool,
    ip: optStr,
  }),
  Register: z.object({
    localpart: optStr,
    password: z.string().max(1024).optional(),
    device_id: optStr,
    initial_device_display_name: optStr,
    inhibit_login: optBool,
    refresh_token: optBool,
    guest: optBool,
    admin: optBool,
    ip: optStr,
    upgrade_guest_user_id: userId.optional(),
  }),
  Deactivate: z.object({ user_id: userId, erase: optBool }),
  RevokeDevice: z.object({ user_id: userId, device_id: id }),
  IsLocalpartAvailable: z.object({ localpart: id }),
  Refresh: z.object({ refresh_token: secret }),
  Logout: z.object({ session_id: id }),
  LogoutAll: z.object({ user_id: userId }),
  CheckPassword: z.object({ user_id: userId, password: z.string().max(1024) }),
  ChangePassword: z.object({
    user_id: userId,
    new_password: secret,
    logout_devices: optBool,
    keep_session_id: optStr,
  }),
  SetProfile: z.object({
    user_id: userId,
    set_displayname: optBool,
    displayname: optStr,
    set_avatar_url: optBool,
    avatar_url: optStr,
  }),
  ListDevices: z.object({ user_id: userId }),
  GetDevice: z.object({ user_id: userId, device_id: id }),
  UpdateDevice: z.object({ user_id: userId, device_id: id, display_name: optStr }),
  CreateRegistrationToken: z.object({ token: optStr, uses_allowed: optInt, expiry_time: optInt }),
  RegistrationToken: z.object({ token: id }),
  Empty: z.object({}),
};

/** The identity service's gRPC server, serving any IdentityClient (the real IdentityService). */
export function identityGrpcServer(identity: IdentityClient, logger: Logger): grpc.Server {
  const Ctor = loadService(IDENTITY_PROTO.file, IDENTITY_PROTO.service);
  const server = new grpc.Server({
    "grpc.max_receive_message_length": 1024 * 1024,
    "grpc.keepalive_permit_without_calls": 1,
  });
  const u = <Req, Res>(method: string, schema: z.ZodType<Req>, fn: (req: Req) => Promise<Res>) =>
    unary<Req, Res>(logger, method, schema, (req) => fn(req));
  server.addService(Ctor.service, {
    GetUser: u("GetUser", schemas.GetUser, async (r) => {
      const user = await identity.getUser(r.user_id);
      return user ? { user: userToWire(user) } : {};
    }),
    GetUsers: u("GetUsers", schemas.GetUsers, async (r) => ({
      users: (await identity.getUsers(r.user_ids ?? [])).map(userToWire),
    })),
    VerifyToken: u("VerifyToken", schemas.VerifyToken, async (r) => {
      const a = await identity.verifyToken(r.access_token);
      return {
        user_id: a.userId,
        device_id: a.deviceId,
        session_id: a.sessionId,
        is_guest: a.isGuest,
        shadow_banned: a.shadowBanned ?? false,
      };
    }),
    Login: u("Login", schemas.Login, async (r) =>
      loginToWire(
        await identity.login({
          user: r.user,
          password: r.password,
          deviceId: r.device_id,
          initialDeviceDisplayName: r.initial_device_display_name,
          refreshToken: r.refresh_token,
          ip: r.ip,
        }),
      ),
    ),
    Register: u("Register", schemas.Register, async (r) => {
      const res = await identity.register({
        localpart: r.localpart,
        password: r.password,
        deviceId: r.device_id,
        initialDeviceDisplayName: r.initial_device_display_name,
        inhibitLogin: r.inhibit_login,
        refreshToken: r.refresh_token,
        guest: r.guest,
        admin: r.admin,
        ip: r.ip,
        upgradeGuestUserId: r.upgrade_guest_user_id,
      });
      return "accessToken" in res
        ? { user_id: res.userId, login: loginToWire(res) }
        : { user_id: res.userId };
    }),
    RevokeDevice: u("RevokeDevice", schemas.RevokeDevice, async (r) => ({
      existed: await identity.revokeDevice(r.user_id, r.device_id),
    })),
    IsLocalpartAvailable: u("IsLocalpartAvailable", schemas.IsLocalpartAvailable, async (r) => ({
      value: await identity.isLocalpartAvailable(r.localpart),
    })),
    Refresh: u("Refresh", schemas.Refresh, async (r) => {
      const res = await identity.refresh(r.refresh_token);
      return {
        access_token: res.accessToken,
        refresh_token: res.refreshToken,
        ...(res.expiresInMs !== undefined ? { expires_in_ms: res.expiresInMs } : {}),
      };
    }),
    Logout: u("Logout", schemas.Logout, async (r) => {
      await identity.logout(r.session_id);
      return {};
    }),
    LogoutAll: u("LogoutAll", schemas.LogoutAll, async (r) => ({
      device_ids: await identity.logoutAll(r.user_id),
    })),
    CheckPassword: u("CheckPassword", schemas.CheckPassword, async (r) => ({
      value: await identity.checkPassword(r.user_id, r.password),
    })),
    ChangePassword: u("ChangePassword", schemas.ChangePassword, async (r) => ({
      device_ids: await identity.changePassword(r.user_id, r.new_password, {
        logoutDevices: r.logout_devices ?? false,
        keepSessionId: r.keep_session_id,
      }),
    })),
    Deactivate: u("Deactivate", schemas.Deactivate, async (r) => ({
      device_ids: await identity.deactivate(r.user_id, { erase: r.erase ?? false }),
    })),
    SetProfile: u("SetProfile", schemas.SetProfile, async (r) => {
      const patch: { displayname?: string | null; avatarUrl?: string | null } = {};
      if (r.set_displayname) patch.displayname = r.displayname ?? null;
      if (r.set_avatar_url) patch.avatarUrl = r.avatar_url ?? null;
      return userToWire(await identity.setProfile(r.user_id, patch));
    }),
    ListDevices: u("ListDevices", schemas.ListDevices, async (r) => ({
      devices: (await identity.listDevices(r.user_id)).map(deviceToWire),
    })),
    GetDevice: u("GetDevice", schemas.GetDevice, async (r) => {
      const d = await identity.getDevice(r.user_id, r.device_id);
      return d ? { device: deviceToWire(d) } : {};
    }),
    UpdateDevice: u("UpdateDevice", schemas.UpdateDevice, async (r) => {
      await identity.updateDevice(r.user_id, r.device_id, r.display_name ?? null);
      return {};
    }),
    CreateRegistrationToken: u("CreateRegistrationToken", schemas.CreateRegistrationToken, async (r) =>
      tokenToWire(
        await identity.createRegistrationToken({
          token: r.token,
          usesAllowed: r.uses_allowed ?? null,
          expiryTime: r.expiry_time ?? null,
        }),
      ),
    ),
    ValidateRegistrationToken: u("ValidateRegistrationToken", schemas.RegistrationToken, async (r) => ({
      value: await identity.validateRegistrationToken(r.token),
    })),
    ConsumeRegistrationToken: u("ConsumeRegistrationToken", schemas.RegistrationToken, async (r) => {
      await identity.consumeRegistrationToken(r.token);
      return {};
    }),
    ...threepidHandlers(identity, u),
    Ping: u("Ping", schemas.Empty, async () => ({})),
  });
  return server;
}

/**
 * Starts identity's gRPC server on `address` (host:port; port 0 picks one), with its admin
 * service beside it when given (identity-admin.proto).
 */
export async function startIdentityGrpc(
  identity: IdentityClient,
  logger: Logger,
  address: string,
  admin?: IdentityAdminClient,
): Promise<{ server: grpc.Server; port: number; close(): Promise<void> }> {
  const server = identityGrpcServer(identity, logger);
  if (admin) addIdentityAdminService(server, admin, logger);
  const port = await listen(server, address);
  logger.info({ address, port }, "identity gRPC listening");
  return { server, port, close: () => shutdown(server) };
}
