import type { RegistrationToken, User } from "./client.ts";

/** A user as the admin API shows it: the public view plus what only admins see. */
export type AdminUser = User & { shadowBanned: boolean };

export const USER_ORDER = [
  "name",
  "is_guest",
  "admin",
  "deactivated",
  "shadow_banned",
  "displayname",
  "avatar_url",
  "creation_ts",
] as const;

export type UserListQuery = {
  from: number;
  limit: number;
  /** Substring of the user id (ignored when `name` is given, as Synapse). */
  userId?: string;
  /** Substring of the localpart or the display name. */
  name?: string;
  guests: boolean;
  deactivated: boolean;
  /** Only admins (true), only non-admins (false), or both (undefined). */
  admins?: boolean;
  orderBy: (typeof USER_ORDER)[number];
  dir: "f" | "b";
};

export type RegistrationTokenPatch = { usesAllowed?: number | null; expiryTime?: number | null };

/**
 * What the admin API asks of identity beyond IdentityClient: listing accounts and the flags only
 * admins set. In-process (IdentityAdmin) in the all-in-one server; identity's own tables stay
 * behind it either way.
 */
export interface IdentityAdminClient {
  listUsers(q: UserListQuery): Promise<{ users: AdminUser[]; total: number }>;
  getAdminUser(userId: string): Promise<AdminUser | null>;
  setAdmin(userId: string, admin: boolean): Promise<boolean>;
  setShadowBanned(userId: string, banned: boolean): Promise<boolean>;
  /** Undoes a deactivation (Synapse: `PUT v2/users` with `deactivated: false` and a password). */
  reactivate(userId: string, password: string): Promise<boolean>;
  listRegistrationTokens(valid?: boolean): Promise<RegistrationToken[]>;
  getRegistrationToken(token: string): Promise<RegistrationToken | null>;
  updateRegistrationToken(token: string, patch: RegistrationTokenPatch): Promise<RegistrationToken | null>;
  deleteRegistrationToken(token: string): Promise<boolean>;
}
