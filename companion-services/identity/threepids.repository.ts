import type { Kysely, Selectable } from "kysely";
import type { IdentityTables } from "./tables.ts";

export type ThreepidRow = Selectable<IdentityTables["user_threepids"]>;

/** All SQL on `user_threepids`: the third-party identifiers bound to accounts. */
export class ThreepidsRepository {
  constructor(private readonly db: Kysely<IdentityTables>) {}

  async ownerOf(medium: string, address: string): Promise<string | undefined> {
    const r = await this.db
      .selectFrom("user_threepids")
      .select("user_id")
      .where("medium", "=", medium)
      .where("address", "=", address)
      .executeTakeFirst();
    return r?.user_id;
  }

  async byUser(userId: string): Promise<ThreepidRow[]> {
    return this.db
      .selectFrom("user_threepids")
      .selectAll()
      .where("user_id", "=", userId)
      .orderBy("added_at")
      .execute();
  }

  /**
   * Binds an address to a user; re-adding one the user already has refreshes its validation time.
   * False when another account holds it.
   */
  async add(row: ThreepidRow): Promise<boolean> {
    const r = await this.db
      .insertInto("user_threepids")
      .values(row)
      .onConflict((oc) =>
        oc
          .columns(["medium", "address"])
          .doUpdateSet({ validated_at: row.validated_at })
          .where("user_threepids.user_id", "=", row.user_id),
      )
      .returning("user_id")
      .executeTakeFirst();
    return r !== undefined;
  }

  async delete(userId: string, medium: string, address: string): Promise<boolean> {
    const r = await this.db
      .deleteFrom("user_threepids")
      .where("user_id", "=", userId)
      .where("medium", "=", medium)
      .where("address", "=", address)
      .executeTakeFirst();
    return Number(r.numDeletedRows) > 0;
  }

  async deleteAllForUser(userId: string): Promise<void> {
    await this.db.deleteFrom("user_threepids").where("user_id", "=", userId).execute();
  }
}
