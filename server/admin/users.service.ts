import type {
  AdminUser,
  IdentityAdminClient,
  UserListQuery,
} from "../../companion-services/identity/admin-client.ts";
import type { IdentityClient, Threepid } from "../../companion-services/identity/client.ts";
import { invalidParam, MatrixError, notFound } from "../../companion-services/platform/errors.ts";
import type { NovaContext } from "../context.ts";
import { serverNameOf } from "../ids.ts";
import { type DeactivationRooms, deactivateAccount } from "../routes/deactivate.ts";

/** A user as Synapse's admin API shows it (GET /v2/users/{userId}, and each row of the list). */
export function userJson(
  u: AdminUser,
  lastSeenTs: number | null = null,
  threepids: Threepid[] = [],
): Record<string, unknown> {
  return {
    name: u.userId,
    displayname: u.displayname,
    avatar_url: u.avatarUrl,
    threepids: threepids.map((t) => ({
      medium: t.medium,
      address: t.address,
      added_at: t.addedAt,
      validated_at: t.validatedAt,
    })),
    external_ids: [],
    is_guest: u.isGuest,
    admin: u.isAdmin,
    deactivated: u.deactivated,
    erased: u.erased,
    shadow_banned: u.shadowBanned,
    locked: false,
    approved: true,
    user_type: null,
    appservice_id: null,
    creation_ts: u.createdAt,
    consent_server_notice_sent: null,
    consent_version: null,
    consent_ts: null,
    last_seen_ts: lastSeenTs,
  };
}

export type UserUpsert = {
  password?: string;
  logoutDevices: boolean;
  displayname?: string | null;
  avatarUrl?: string | null;
  admin?: boolean;
  deactivated?: boolean;
};

/** The users area of the admin API: identity for accounts, the rooms service for leaving rooms. */
export class AdminUsers {
  constructor(
    private readonly ctx: NovaContext,
    private readonly identity: IdentityClient,
    private readonly admin: IdentityAdminClient,
    private readonly rooms: DeactivationRooms,
  ) {}

  /** Only local users are managed here (Synapse: 400 "Can only look up local users"). */
  local(userId: string): string {
    if (serverNameOf(userId) !== this.ctx.config.serverName)
      throw invalidParam("This endpoint can only be used with local users");
    return userId;
  }

  list(q: UserListQuery): Promise<{ users: AdminUser[]; total: number }> {
    return this.admin.listUsers(q);
  }

  async get(userId: string): Promise<AdminUser> {
    const u = await this.admin.getAdminUser(this.local(userId));
    if (!u) throw notFound("User not found");
    return u;
  }

  /** The account's bound 3PIDs (the single-user answers show them, as Synapse's). */
  threepids(userId: string): Promise<Threepid[]> {
    return this.identity.threepids.listThreepids(userId);
  }

  async lastSeen(userId: string): Promise<number | null> {
    const seen = (await this.identity.listDevices(userId)).map((d) => d.lastSeenTs ?? 0);
    return seen.length ? Math.max(...seen) : null;
  }

  /** PUT /v2/users/{userId}: creates the account when it does not exist (true), else modifies it. */
  async upsert(userId: string, patch: UserUpsert): Promise<boolean> {
    const existing = await this.admin.getAdminUser(this.local(userId));
    if (!existing) {
      if (patch.deactivated) throw invalidParam("Cannot create a deactivated user");
      const localpart = userId.slice(1, userId.lastIndexOf(":"));
      await this.identity.register({
        localpart,
        password: patch.password,
        admin: patch.admin ?? false,
        inhibitLogin: true,
      });
      if (patch.displayname !== undefined || patch.avatarUrl !== undefined)
        await this.identity.setProfile(userId, {
          displayname: patch.displayname,
          avatarUrl: patch.avatarUrl,
        });
      return true;
    }
    if (patch.deactivated === false && existing.deactivated) {
      if (!patch.password) throw invalidParam("Must provide a password to re-activate an account.");
      await this.admin.reactivate(userId, patch.password);
    } else if (patch.password !== undefined) {
      await this.identity.changePassword(userId, patch.password, { logoutDevices: patch.logoutDevices });
    }
    if (patch.displayname !== undefined || patch.avatarUrl !== undefined)
      await this.identity.setProfile(userId, { displayname: patch.displayname, avatarUrl: patch.avatarUrl });
    if (patch.admin !== undefined) await this.admin.setAdmin(userId, patch.admin);
    if (patch.deactivated === true && !existing.deactivated)
      await deactivateAccount(this.ctx, this.rooms, userId, false);
    return false;
  }

  /** POST /v1/deactivate/{userId}: the same deactivation as the user's own, without UIA. */
  async deactivate(userId: string, erase: boolean): Promise<void> {
    const u = await this.get(userId);
    if (u.deactivated && !erase) return;
    await deactivateAccount(this.ctx, this.rooms, userId, erase);
  }

  async resetPassword(userId: string, password: string, logoutDevices: boolean): Promise<void> {
    const u = await this.get(userId);
    if (u.deactivated) throw new MatrixError(400, "M_UNKNOWN", "User is deactivated");
    await this.identity.changePassword(userId, password, { logoutDevices });
  }

  async setAdmin(caller: string, userId: string, admin: boolean): Promise<void> {
    await this.get(userId);
    if (caller === userId && !admin) throw new MatrixError(400, "M_UNKNOWN", "You may not demote yourself.");
    await this.admin.setAdmin(userId, admin);
  }

  async setShadowBanned(userId: string, banned: boolean): Promise<void> {
    await this.get(userId);
    await this.admin.setShadowBanned(userId, banned);
  }
}
