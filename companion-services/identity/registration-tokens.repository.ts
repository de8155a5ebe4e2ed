import type { Kysely, Selectable } from "kysely";
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
    return row ? toRegistrationToken(row) : null;
  }

  /** Every token, oldest first; `valid` narrows to usable (true) or used up / expired (false). */
  async list(valid: boolean | undefined, now: number): Promise<RegistrationToken[]> {
    let q = this.db.selectFrom("invite_codes").selectAll().orderBy("created_at").orderBy("code");
    if (valid !== undefined) {
      q = q.where((eb) => {
        const usable = eb.and([
          eb.or([eb("expiry_time", "is", null), eb("expiry_time", ">=", now)]),
          eb.or([eb("uses_allowed", "is", null), eb("completed", "<", eb.ref("uses_allowed"))]),
        ]);
        return valid ? usable : eb.not(usable);
      });
    }
    return (await q.execute()).map(toRegistrationToken);
  }

  async update(
    token: string,
    patch: { uses_allowed?: number | null; expiry_time?: number | null },
  ): Promise<RegistrationToken | null> {
    if (Object.keys(patch).length === 0) {
      const row = await this.get(token);
      return row ? toRegistrationToken(row) : null;
    }
    const row = await this.db
      .updateTable("invite_codes")
      .set(patch)
      .where("code", "=", token)
      .returningAll()
      .executeTakeFirst();
    return row ? toRegistrationToken(row) : null;
  }

  async delete(token: string): Promise<boolean> {
    const r = await this.db.deleteFrom("invite_codes").where("code", "=", token).executeTakeFirst();
    return Number(r.numDeletedRows) > 0;
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

function toRegistrationToken(row: Selectable<IdentityTables["invite_codes"]>): RegistrationToken {
  return {
    token: row.code,
    usesAllowed: row.uses_allowed,
    pending: row.pending,
    completed: row.completed,
    expiryTime: row.expiry_time === null ? null : Number(row.expiry_time),
  };
}
