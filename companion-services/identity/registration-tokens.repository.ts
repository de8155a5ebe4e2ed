import type { Kysely } from "kysely";
import type { RegistrationToken } from "./client.ts";
import type { IdentityTables } from "./tables.ts";

/** All SQL on `invite_codes`: the registration tokens of `NOVA_REGISTRATION=token`. */
export class RegistrationTokensRepository {
  constructor(private readonly db: Kysely<IdentityTables>) {}

  /** Inserts a new token; null when one with that value exists. */
  async insert(
    token: string,
    usesAllowed: number | null,
    expiryTime: number | null,
  ): Promise<RegistrationToken | null> {
    const row = await this.db
      .insertInto("invite_codes")
      .values({
        code: token,
        uses_allowed: usesAllowed,
        pending: 0,
        completed: 0,
        expiry_time: expiryTime,
        created_at: Date.now(),
      })
      .onConflict((oc) => oc.doNothing())
      .returningAll()
      .executeTakeFirst();
    if (!row) return null;
    return {
      token: row.code,
      usesAllowed: row.uses_allowed,
      pending: row.pending,
      completed: row.completed,
      expiryTime: row.expiry_time === null ? null : Number(row.expiry_time),
    };
  }

  async get(token: string) {
    return this.db.selectFrom("invite_codes").selectAll().where("code", "=", token).executeTakeFirst();
  }

  /** Counts one use, unless the token is used up; true when it counted. */
  async consume(token: string): Promise<boolean> {
    const r = await this.db
      .updateTable("invite_codes")
      .set((eb) => ({ completed: eb("completed", "+", 1) }))
      .where("code", "=", token)
      .where((eb) => eb.or([eb("uses_allowed", "is", null), eb("completed", "<", eb.ref("uses_allowed"))]))
      .executeTakeFirst();
    return Number(r.numUpdatedRows) === 1;
  }
}
