import { present } from "../platform/rpc/wire.ts";
import type { Device, LoginResult, RegistrationToken, User } from "./client.ts";

// identity's records as identity.proto and identity-admin.proto carry them (snake_case, absent
// for null), for the gRPC servers of both.

export function userToWire(u: User) {
  return present({
    user_id: u.userId,
    localpart: u.localpart,
    displayname: u.displayname,
    avatar_url: u.avatarUrl,
    is_admin: u.isAdmin,
    is_guest: u.isGuest,
    deactivated: u.deactivated,
    erased: u.erased,
    created_at: u.createdAt,
  });
}

export const deviceToWire = (d: Device) =>
  present({
    device_id: d.deviceId,
    display_name: d.displayName,
    last_seen_ip: d.lastSeenIp,
    last_seen_ts: d.lastSeenTs,
  });

export const loginToWire = (r: LoginResult) =>
  present({
    user_id: r.userId,
    device_id: r.deviceId,
    access_token: r.accessToken,
    new_device: r.newDevice,
    refresh_token: r.refreshToken,
    expires_in_ms: r.expiresInMs,
  });

export const tokenToWire = (t: RegistrationToken) =>
  present({
    token: t.token,
    pending: t.pending,
    completed: t.completed,
    uses_allowed: t.usesAllowed,
    expiry_time: t.expiryTime,
  });
