import type { Kysely, Selectable } from "kysely";
import type { AdminUser, UserListQuery } from "./admin-client.ts";
import type { IdentityTables } from "./tables.ts";
import { toUser } from "./users.repository.ts";

type UserRow = Selectable<IdentityTables["users"]>;

const ORDER_COLUMN = {
  name: "user_id",
  is_guest: "is_guest",
  admin: "is_admin",
  deactivated: "deactivated",
  shadow_banned: "shadow_banned",
  displayname: "displayname",
  avatar_url: "avatar_url",
  creation_ts: "created_at",
} as const;

export function toAdminUser(r: UserRow): AdminUser {
  return { ...toUser(r), shadowBanned: r.shadow_banned };
}

/** Escapes LIKE's wildcards so a search for "a_b" matches only "a_b". */
function likeContaining(s: string): string {
  return `%${s.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}

/** The admin API's reads and flag writes on `users` (the account list, admin, shadow ban). */
export class UsersAdminRepository {
  constructor(private readonly db: Kysely<IdentityTables>) {}

  async list(q: UserListQuery): Promise<{ rows: UserRow[]; total: number }> {
    let base = this.db.selectFrom("users");
    if (q.name !== undefined) {
      const pattern = likeContaining(q.name.toLowerCase());
      base = base.where((eb) =>
        eb.or([eb("localpart", "like", pattern), eb(eb.fn("lower", ["displayname"]), "like", pattern)]),
      );
    } else if (q.userId !== undefined) {
      base = base.where("user_id", "like", likeContaining(q.userId));
    }
    if (!q.guests) base = base.where("is_guest", "=", false);
    if (!q.deactivated) base = base.where("deactivated", "=", false);
    if (q.admins !== undefined) base = base.where("is_admin", "=", q.admins);
    const counted = await base.select((eb) => eb.fn.countAll<number>().as("n")).executeTakeFirstOrThrow();
    const dir = q.dir === "b" ? "desc" : "asc";
    let page = base.selectAll().orderBy(ORDER_COLUMN[q.orderBy], dir);
    // Ties (many users share is_guest=false) are broken by user id, so pages never overlap.
    if (q.orderBy !== "name") page = page.orderBy("user_id", dir);
    const rows = await page.limit(q.limit).offset(q.from).execute();
    return { rows, total: Number(counted.n) };
  }

  async setFlag(userId: string, flag: "is_admin" | "shadow_banned", value: boolean): Promise<boolean> {
    const r = await this.db
      .updateTable("users")
      .set({ [flag]: value })
      .where("user_id", "=", userId)
      .executeTakeFirst();
    return Number(r.numUpdatedRows) > 0;
  }

  /** Clears the deactivated flag (the caller sets a new password straight after). */
  async reactivate(userId: string): Promise<boolean> {
    const r = await this.db
      .updateTable("users")
      .set({ deactivated: false })
      .where("user_id", "=", userId)
      .where("deactivated", "=", true)
      .executeTakeFirst();
    return Number(r.numUpdatedRows) > 0;
  }
}
