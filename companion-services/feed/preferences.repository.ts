import { type Kysely, sql } from "kysely";
import type { FeedTables } from "./tables.ts";

export type FeedPreferences = {
  mutedUserIds: string[];
  hideShares: boolean;
  languages: string[];
};

export const NO_PREFERENCES: FeedPreferences = { mutedUserIds: [], hideShares: false, languages: [] };

/** All SQL on `user_feed_preferences`. A user without a row has the defaults. */
export class FeedPreferencesRepository {
  constructor(private readonly db: Kysely<FeedTables>) {}

  async get(userId: string): Promise<FeedPreferences> {
    const row = await this.db
      .selectFrom("user_feed_preferences")
      .select(["muted_user_ids", "hide_shares", "languages"])
      .where("user_id", "=", userId)
      .executeTakeFirst();
    if (!row) return { ...NO_PREFERENCES };
    return { mutedUserIds: row.muted_user_ids, hideShares: row.hide_shares, languages: row.languages };
  }

  async put(userId: string, prefs: FeedPreferences, now: number): Promise<void> {
    const muted = sql<string[]>`${JSON.stringify(prefs.mutedUserIds)}::jsonb`;
    const languages = sql<string[]>`${JSON.stringify(prefs.languages)}::jsonb`;
    await this.db
      .insertInto("user_feed_preferences")
      .values({
        user_id: userId,
        ranking: "chronological",
        muted_user_ids: muted,
        hide_shares: prefs.hideShares,
        languages,
        updated_at: now,
      })
      .onConflict((oc) =>
        oc.column("user_id").doUpdateSet({
          muted_user_ids: muted,
          hide_shares: prefs.hideShares,
          languages,
          updated_at: now,
        }),
      )
      .execute();
  }
}
