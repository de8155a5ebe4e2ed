import type { Kysely, Selectable } from "kysely";
import type { IdentityTables } from "./tables.ts";

export type EmailVerificationRow = Selectable<IdentityTables["email_verifications"]>;

/** All SQL on `email_verifications`: the validation sessions of the requestToken endpoints. */
export class EmailVerificationsRepository {
  constructor(private readonly db: Kysely<IdentityTables>) {}

  /** The unvalidated session a client secret already opened for this address (Synapse reuses it). */
  async pending(
    clientSecret: string,
    medium: string,
    address: string,
  ): Promise<EmailVerificationRow | undefined> {
    return this.db
      .selectFrom("email_verifications")
      .selectAll()
      .where("client_secret", "=", clientSecret)
      .where("medium", "=", medium)
      .where("address", "=", address)
      .where("validated_at", "is", null)
      .orderBy("created_at", "desc")
      .executeTakeFirst();
  }

  async bySid(sid: string): Promise<EmailVerificationRow | undefined> {
    return this.db.selectFrom("email_verifications").selectAll().where("sid", "=", sid).executeTakeFirst();
  }

  async insert(row: EmailVerificationRow): Promise<void> {
    await this.db.insertInto("email_verifications").values(row).execute();
  }

  /** A later send attempt: a new token (the earlier mail's link stops working) and next_link. */
  async resend(
    sid: string,
    patch: {
      last_send_attempt: number;
      token_hash: string;
      token_expires_at: number;
      next_link: string | null;
    },
  ): Promise<void> {
    await this.db.updateTable("email_verifications").set(patch).where("sid", "=", sid).execute();
  }

  async markValidated(sid: string, at: number): Promise<void> {
    await this.db
      .updateTable("email_verifications")
      .set({ validated_at: at })
      .where("sid", "=", sid)
      .where("validated_at", "is", null)
      .execute();
  }

  /** Deletes a validated session and returns it: each validation is used once. */
  async takeValidated(sid: string, clientSecret: string): Promise<EmailVerificationRow | undefined> {
    return this.db
      .deleteFrom("email_verifications")
      .where("sid", "=", sid)
      .where("client_secret", "=", clientSecret)
      .where("validated_at", "is not", null)
      .returningAll()
      .executeTakeFirst();
  }

  /** Drops sessions opened before `before` (validated or not): abandoned attempts. */
  async deleteOlderThan(before: number): Promise<void> {
    await this.db.deleteFrom("email_verifications").where("created_at", "<", before).execute();
  }
}
