import * as grpc from "@grpc/grpc-js";
import type { AuthInfo } from "../platform/http/router.ts";
import { type CallOptions, callUnary } from "../platform/rpc/client.ts";
import { loadService } from "../platform/rpc/proto.ts";
import type {
  Device,
  IdentityClient,
  LoginInput,
  LoginResult,
  RegisterInput,
  RegistrationToken,
  User,
} from "./client.ts";
import { IDENTITY_PROTO } from "./grpc.ts";
import { GrpcThreepids } from "./threepids-grpc-client.ts";

export type WireUser = {
  user_id: string;
  localpart: string;
  displayname?: string;
  avatar_url?: string;
  is_admin?: boolean;
  is_guest?: boolean;
  deactivated?: boolean;
  erased?: boolean;
  created_at?: number;
};
type WireDevice = { device_id: string; display_name?: string; last_seen_ip?: string; last_seen_ts?: number };
type WireLogin = {
  user_id: string;
  device_id: string;
  access_token: string;
  refresh_token?: string;
  expires_in_ms?: number;
  new_device?: boolean;
};
export type WireToken = {
  token: string;
  uses_allowed?: number;
  pending?: number;
  completed?: number;
  expiry_time?: number;
};

export type GrpcIdentityOptions = {
  /** host:port of identity's gRPC server. */
  address: string;
  /** Deadline of each call. */
  deadlineMs?: number;
  /** Tries beyond the first for idempotent calls. */
  retries?: number;
};

/**
 * IdentityClient over gRPC: what the homeserver and the companion services use in distributed
 * mode. Reads and VerifyToken/RevokeDevice are idempotent and retried within their deadline;
 * Register, Login, Refresh and the other writes are sent once. Errors are MatrixErrors.
 */
export class GrpcIdentityClient implements IdentityClient {
  private readonly client: grpc.Client;
  private readonly read: CallOptions;
  private readonly write: CallOptions;
  readonly threepids: GrpcThreepids;

  constructor(options: GrpcIdentityOptions) {
    const Ctor = loadService(IDENTITY_PROTO.file, IDENTITY_PROTO.service);
    this.client = new Ctor(options.address, grpc.credentials.createInsecure(), {
      "grpc.keepalive_time_ms": 30_000,
      "grpc.enable_retries": 0,
    });
    const deadlineMs = options.deadlineMs ?? 5_000;
    this.read = { deadlineMs, retries: options.retries ?? 2 };
    // Password hashing (argon2id) makes login and register slower than reads.
    this.write = { deadlineMs: Math.max(deadlineMs, 10_000), retries: 0 };
    this.threepids = new GrpcThreepids((m, r, o) => this.call(m, r, o), { deadlineMs, retries: 0 });
  }

  close(): void {
    this.client.close();
  }

  /** Resolves once the channel is connected (or rejects after the deadline). */
  waitForReady(timeoutMs = 10_000): Promise<void> {
    return new Promise((resolve, reject) =>
      this.client.waitForReady(Date.now() + timeoutMs, (err) => (err ? reject(err) : resolve())),
    );
  }

  ping(): Promise<unknown> {
    return this.call("Ping", {}, this.read);
  }

  async register(input: RegisterInput): Promise<LoginResult | { userId: string }> {
    const res = await this.call<{ user_id: string; login?: WireLogin }>(
      "Register",
      {
        localpart: input.localpart,
        password: input.password,
        device_id: input.deviceId,
        initial_device_display_name: input.initialDeviceDisplayName,
        inhibit_login: input.inhibitLogin,
        refresh_token: input.refreshToken,
        guest: input.guest,
        admin: input.admin,
        ip: input.ip,
        upgrade_guest_user_id: input.upgradeGuestUserId,
      },
      this.write,
    );
    return res.login ? loginFromWire(res.login) : { userId: res.user_id };
  }

  async isLocalpartAvailable(localpart: string): Promise<boolean> {
    return (
      (await this.call<{ value?: boolean }>("IsLocalpartAvailable", { localpart }, this.read)).value ?? false
    );
  }

  async login(input: LoginInput): Promise<LoginResult> {
    const res = await this.call<WireLogin>(
      "Login",
      {
        user: input.user,
        password: input.password,
        device_id: input.deviceId,
        initial_device_display_name: input.initialDeviceDisplayName,
        refresh_token: input.refreshToken,
        ip: input.ip,
      },
      this.write,
    );
    return loginFromWire(res);
  }

  async verifyToken(accessToken: string): Promise<AuthInfo> {
    const r = await this.call<{
      user_id: string;
      device_id: string;
      session_id: string;
      is_guest?: boolean;
      shadow_banned?: boolean;
    }>("VerifyToken", { access_token: accessToken }, this.read);
    return {
      userId: r.user_id,
      deviceId: r.device_id,
      sessionId: r.session_id,
      isGuest: r.is_guest ?? false,
      ...(r.shadow_banned ? { shadowBanned: true } : {}),
    };
  }

  async refresh(
    refreshToken: string,
  ): Promise<{ accessToken: string; refreshToken: string; expiresInMs?: number }> {
    const r = await this.call<{ access_token: string; refresh_token: string; expires_in_ms?: number }>(
      "Refresh",
      { refresh_token: refreshToken },
      this.write,
    );
    return {
      accessToken: r.access_token,
      refreshToken: r.refresh_token,
      ...(r.expires_in_ms !== undefined ? { expiresInMs: r.expires_in_ms } : {}),
    };
  }

  async logout(sessionId: string): Promise<void> {
    await this.call("Logout", { session_id: sessionId }, this.read);
  }

  async logoutAll(userId: string): Promise<string[]> {
    return (
      (await this.call<{ device_ids?: string[] }>("LogoutAll", { user_id: userId }, this.read)).device_ids ??
      []
    );
  }

  async checkPassword(userId: string, password: string): Promise<boolean> {
    return (
      (await this.call<{ value?: boolean }>("CheckPassword", { user_id: userId, password }, this.write))
        .value ?? false
    );
  }

  async changePassword(
    userId: string,
    newPassword: string,
    opts: { logoutDevices: boolean; keepSessionId?: string },
  ): Promise<string[]> {
    const r = await this.call<{ device_ids?: string[] }>(
      "ChangePassword",
      {
        user_id: userId,
        new_password: newPassword,
        logout_devices: opts.logoutDevices,
        keep_session_id: opts.keepSessionId,
      },
      this.write,
    );
    return r.device_ids ?? [];
  }

  async deactivate(userId: string, opts: { erase: boolean }): Promise<string[]> {
    const r = await this.call<{ device_ids?: string[] }>(
      "Deactivate",
      { user_id: userId, erase: opts.erase },
      this.write,
    );
    return r.device_ids ?? [];
  }

  async getUser(userId: string): Promise<User | null> {
    const r = await this.call<{ user?: WireUser }>("GetUser", { user_id: userId }, this.read);
    return r.user ? userFromWire(r.user) : null;
  }

  async getUsers(userIds: string[]): Promise<User[]> {
    const r = await this.call<{ users?: WireUser[] }>("GetUsers", { user_ids: userIds }, this.read);
    return (r.users ?? []).map(userFromWire);
  }

  async setProfile(
    userId: string,
    profile: { displayname?: string | null; avatarUrl?: string | null },
  ): Promise<User> {
    const r = await this.call<WireUser>(
      "SetProfile",
      {
        user_id: userId,
        set_displayname: profile.displayname !== undefined,
        displayname: profile.displayname ?? undefined,
        set_avatar_url: profile.avatarUrl !== undefined,
        avatar_url: profile.avatarUrl ?? undefined,
      },
      this.read,
    );
    return userFromWire(r);
  }

  async listDevices(userId: string): Promise<Device[]> {
    const r = await this.call<{ devices?: WireDevice[] }>("ListDevices", { user_id: userId }, this.read);
    return (r.devices ?? []).map(deviceFromWire);
  }

  async getDevice(userId: string, deviceId: string): Promise<Device | null> {
    const r = await this.call<{ device?: WireDevice }>(
      "GetDevice",
      { user_id: userId, device_id: deviceId },
      this.read,
    );
    return r.device ? deviceFromWire(r.device) : null;
  }

  async updateDevice(userId: string, deviceId: string, displayName: string | null): Promise<void> {
    await this.call(
      "UpdateDevice",
      { user_id: userId, device_id: deviceId, display_name: displayName ?? undefined },
      this.read,
    );
  }

  async revokeDevice(userId: string, deviceId: string): Promise<boolean> {
    const r = await this.call<{ existed?: boolean }>(
      "RevokeDevice",
      { user_id: userId, device_id: deviceId },
      this.read,
    );
    return r.existed ?? false;
  }

  async createRegistrationToken(input: {
    token?: string;
    usesAllowed?: number | null;
    expiryTime?: number | null;
  }): Promise<RegistrationToken> {
    const r = await this.call<WireToken>(
      "CreateRegistrationToken",
      {
        token: input.token,
        uses_allowed: input.usesAllowed ?? undefined,
        expiry_time: input.expiryTime ?? undefined,
      },
      this.write,
    );
    return tokenFromWire(r);
  }

  async validateRegistrationToken(token: string): Promise<boolean> {
    return (
      (await this.call<{ value?: boolean }>("ValidateRegistrationToken", { token }, this.read)).value ?? false
    );
  }

  async consumeRegistrationToken(token: string): Promise<void> {
    await this.call("ConsumeRegistrationToken", { token }, this.write);
  }

  private call<Res>(method: string, request: unknown, options: CallOptions): Promise<Res> {
    return callUnary<Res>(this.client, method, request, options);
  }
}

export function userFromWire(u: WireUser): User {
  return {
    userId: u.user_id,
    localpart: u.localpart,
    displayname: u.displayname ?? null,
    avatarUrl: u.avatar_url ?? null,
    isAdmin: u.is_admin ?? false,
    isGuest: u.is_guest ?? false,
    deactivated: u.deactivated ?? false,
    erased: u.erased ?? false,
    createdAt: u.created_at ?? 0,
  };
}

function deviceFromWire(d: WireDevice): Device {
  return {
    deviceId: d.device_id,
    displayName: d.display_name ?? null,
    lastSeenIp: d.last_seen_ip ?? null,
    lastSeenTs: d.last_seen_ts ?? null,
  };
}

function loginFromWire(r: WireLogin): LoginResult {
  return {
    userId: r.user_id,
    deviceId: r.device_id,
    accessToken: r.access_token,
    newDevice: r.new_device ?? false,
    ...(r.refresh_token !== undefined ? { refreshToken: r.refresh_token } : {}),
    ...(r.expires_in_ms !== undefined ? { expiresInMs: r.expires_in_ms } : {}),
  };
}

export function tokenFromWire(t: WireToken): RegistrationToken {
  return {
    token: t.token,
    usesAllowed: t.uses_allowed ?? null,
    pending: t.pending ?? 0,
    completed: t.completed ?? 0,
    expiryTime: t.expiry_time ?? null,
  };
}
