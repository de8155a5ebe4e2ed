import { type Kysely, sql } from "kysely";
import type { MediaTables } from "../tables.ts";

export type CachedPreview = { og: Record<string, unknown>; fetchedAt: number; expiresAt: number };

/** The URL preview cache (`url_previews`): one row per URL, replaced when refetched. */
export class UrlPreviewsRepository {
  constructor(private readonly db: Kysely<MediaTables>) {}

  /** The cached preview of `url` that is still fresh at `now`, or null. */
  async fresh(url: string, now: number): Promise<CachedPreview | null> {
    const row = await this.db
      .selectFrom("url_previews")
      .select(["og", "fetched_at", "expires_at"])
      .where("url", "=", url)
      .where("expires_at", ">", now)
      .executeTakeFirst();
    if (!row) return null;
    const og = typeof row.og === "string" ? (JSON.parse(row.og) as Record<string, unknown>) : row.og;
    return { og, fetchedAt: Number(row.fetched_at), expiresAt: Number(row.expires_at) };
  }

  async put(url: string, og: Record<string, unknown>, fetchedAt: number, expiresAt: number): Promise<void> {
    const json = sql<Record<string, unknown>>`${JSON.stringify(og)}::jsonb`;
    await this.db
      .insertInto("url_previews")
      .values({ url, og: json, fetched_at: fetchedAt, expires_at: expiresAt })
      .onConflict((oc) =>
        oc.column("url").doUpdateSet({ og: json, fetched_at: fetchedAt, expires_at: expiresAt }),
      )
      .execute();
  }

  /** Drops rows expired before `now`; returns how many. */
  async deleteExpired(now: number): Promise<number> {
    const r = await this.db.deleteFrom("url_previews").where("expires_at", "<=", now).executeTakeFirst();
    return Number(r.numDeletedRows);
  }
}
