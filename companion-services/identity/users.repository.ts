import type { Kysely, Selectable } from "kysely";
import type { User } from "./client.ts";
import type { IdentityTables } from "./tables.ts";

type UserRow = Selectable<IdentityTables["users"]>;

export function toUser(r: UserRow): User {
  return {
    userId: r.user_id,
    localpart: r.localpart,
    displayname: r.displayname,
    avatarUrl: r.avatar_url,
    isAdmin: r.is_admin,
    isGuest: r.is_guest,
    deactivated: r.deactivated,
    erased: r.erased,
    createdAt: Number(r.created_at),
  };
}

export class UsersRepository {
  constructor(private readonly db: Kysely<IdentityTables>) {}

  async byId(userId: string): Promise<UserRow | undefined> {
    return this.db.selectFrom("users").selectAll().where("user_id", "=", userId).executeTakeFirst();
  }

  async byIds(userIds: string[]): Promise<UserRow[]> {
    if (userIds.length === 0) return [];
    return this.db.selectFrom("users").selectAll().where("user_id", "in", userIds).execute();
  }

  async localpartExists(localpart: string): Promise<boolean> {
    const r = await this.db
      .selectFrom("users")
      .select("user_id")
      .where("localpart", "=", localpart)
      .executeTakeFirst();
    return r !== undefined;
  }

  async setPasswordHash(userId: string, hash: string): Promise<void> {
    await this.db.updateTable("users").set({ password_hash: hash }).where("user_id", "=", userId).execute();
  }

  async setProfile(
    userId: string,
    patch: { displayname?: string | null; avatar_url?: string | null },
  ): Promise<UserRow | undefined> {
    return this.db
      .updateTable("users")
      .set(patch)
      .where("user_id", "=", userId)
      .returningAll()
      .executeTakeFirst();
  }

  /** Marks the account deactivated (and its password unusable); with `erase`, clears its profile. */
  async deactivate(userId: string, erase: boolean): Promise<boolean> {
    const r = await this.db
      .updateTable("users")
      .set({
        deactivated: true,
        password_hash: null,
        ...(erase ? { displayname: null, avatar_url: null, erased: true } : {}),
      })
      .where("user_id", "=", userId)
      .executeTakeFirst();
    return Number(r.numUpdatedRows) > 0;
  }

  /** Makes a guest a full account; false when the user is not (or no longer) a guest. */
  async upgradeGuest(userId: string, passwordHash: string | null): Promise<boolean> {
    const r = await this.db
      .updateTable("users")
      .set({ is_guest: false, password_hash: passwordHash })
      .where("user_id", "=", userId)
      .where("is_guest", "=", true)
      .where("deactivated", "=", false)
      .executeTakeFirst();
    return Number(r.numUpdatedRows) > 0;
  }

  async logAuth(userId: string | null, event: string, success: boolean, ip: string | null): Promise<void> {
    await this.db
      .insertInto("auth_logs")
      .values({ user_id: userId, event, success, ip, created_at: Date.now() })
      .execute();
  }
}
