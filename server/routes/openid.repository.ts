import type { ModerationDb } from "./moderation.tables.ts";

/** OpenID tokens, stored by hash. */
export class OpenIdRepository {
  constructor(private readonly db: ModerationDb) {}

  /** Stores a token and drops expired ones (there are few: each lives an hour). */
  async insert(tokenHash: string, userId: string, expiresAt: number, now: number): Promise<void> {
    await this.db.deleteFrom("openid_tokens").where("expires_at", "<=", now).execute();
    await this.db
      .insertInto("openid_tokens")
      .values({ token_hash: tokenHash, user_id: userId, expires_at: expiresAt })
      .execute();
  }

  /** The user a live token belongs to, or null. */
  async userOf(tokenHash: string, now: number): Promise<string | null> {
    const row = await this.db
      .selectFrom("openid_tokens")
      .select("user_id")
      .where("token_hash", "=", tokenHash)
      .where("expires_at", ">", now)
      .executeTakeFirst();
    return row?.user_id ?? null;
  }
}
