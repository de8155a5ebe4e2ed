import type { Kysely } from "kysely";
import type { ServiceDatabase } from "../platform/database.ts";
import type {
  AdminUser,
  IdentityAdminClient,
  RegistrationTokenPatch,
  UserListQuery,
} from "./admin-client.ts";
import type { RegistrationToken } from "./client.ts";
import { RegistrationTokensRepository } from "./registration-tokens.repository.ts";
import type { IdentityService } from "./service.ts";
import type { IdentityTables } from "./tables.ts";
import { UsersRepository } from "./users.repository.ts";
import { toAdminUser, UsersAdminRepository } from "./users-admin.repository.ts";

/** Identity's admin operations, in-process beside the IdentityService whose token cache they keep right. */
export class IdentityAdmin implements IdentityAdminClient {
  private readonly users: UsersAdminRepository;
  private readonly tokens: RegistrationTokensRepository;
  private readonly byId: UsersRepository;

  constructor(
    db: Kysely<IdentityTables>,
    private readonly identity: IdentityService,
  ) {
    this.users = new UsersAdminRepository(db);
    this.tokens = new RegistrationTokensRepository(db);
    this.byId = new UsersRepository(db);
  }

  async listUsers(q: UserListQuery): Promise<{ users: AdminUser[]; total: number }> {
    const { rows, total } = await this.users.list(q);
    return { users: rows.map(toAdminUser), total };
  }

  async getAdminUser(userId: string): Promise<AdminUser | null> {
    const row = await this.byId.byId(userId);
    return row ? toAdminUser(row) : null;
  }

  async setAdmin(userId: string, admin: boolean): Promise<boolean> {
    return this.users.setFlag(userId, "is_admin", admin);
  }

  async setShadowBanned(userId: string, banned: boolean): Promise<boolean> {
    const ok = await this.users.setFlag(userId, "shadow_banned", banned);
    // The flag travels on the cached token (AuthInfo): drop the user's so it takes effect at once.
    if (ok) await this.identity.forgetTokensOf(userId);
    return ok;
  }

  async reactivate(userId: string, password: string): Promise<boolean> {
    if (!(await this.users.reactivate(userId))) return false;
    await this.identity.changePassword(userId, password, { logoutDevices: false });
    return true;
  }

  listRegistrationTokens(valid?: boolean): Promise<RegistrationToken[]> {
    return this.tokens.list(valid, Date.now());
  }

  async getRegistrationToken(token: string): Promise<RegistrationToken | null> {
    return this.tokens.update(token, {});
  }

  updateRegistrationToken(token: string, patch: RegistrationTokenPatch): Promise<RegistrationToken | null> {
    const set: { uses_allowed?: number | null; expiry_time?: number | null } = {};
    if (patch.usesAllowed !== undefined) set.uses_allowed = patch.usesAllowed;
    if (patch.expiryTime !== undefined) set.expiry_time = patch.expiryTime;
    return this.tokens.update(token, set);
  }

  deleteRegistrationToken(token: string): Promise<boolean> {
    return this.tokens.delete(token);
  }
}

export function createIdentityAdmin(
  database: ServiceDatabase<unknown>,
  identity: IdentityService,
): IdentityAdmin {
  return new IdentityAdmin((database as ServiceDatabase<IdentityTables>).db, identity);
}
