import { type Kysely, sql } from "kysely";
import type { ContentTables, MediaTables } from "../tables.ts";
import type { UploadRow } from "../uploads.repository.ts";

/** Synapse's order_by values for a user's media, and the column each sorts on. */
export const MEDIA_ORDER = {
  media_id: "id",
  upload_name: "upload_name",
  created_ts: "created_at",
  last_access_ts: "last_access_at",
  media_length: "bytes",
  media_type: "content_type",
  quarantined_by: "quarantined_by",
  safe_from_quarantine: "safe_from_quarantine",
} as const satisfies Record<string, keyof ContentTables["uploads"]>;
export type MediaOrder = keyof typeof MEDIA_ORDER;

export type Page = { from: number; limit: number; orderBy: MediaOrder; dir: "f" | "b" };

/** What a delete removed from the database; the blobs are the caller's to remove after commit. */
export type DeletedRows = { ids: string[]; originals: string[]; thumbnails: string[] };

/** The SQL of the media admin API, on `uploads` and `media_thumbnails`. */
export class MediaAdminRepository {
  constructor(private readonly db: Kysely<MediaTables>) {}

  async userMedia(userId: string, page: Page): Promise<{ rows: UploadRow[]; total: number }> {
    const dir = page.dir === "b" ? "desc" : "asc";
    const rows = await this.db
      .selectFrom("uploads")
      .selectAll()
      .where("user_id", "=", userId)
      .orderBy(MEDIA_ORDER[page.orderBy], dir)
      // Ties in one stable order whatever `dir`, as Synapse: pages neither skip nor repeat.
      .orderBy("id", "asc")
      .offset(page.from)
      .limit(page.limit)
      .execute();
    const count = await this.db
      .selectFrom("uploads")
      .select(sql<string | number>`count(*)`.as("n"))
      .where("user_id", "=", userId)
      .executeTakeFirst();
    return { rows, total: Number(count?.n ?? 0) };
  }

  /** Quarantines unless protected; false when the id is unknown. */
  async quarantine(id: string, by: string): Promise<boolean> {
    const row = await this.db
      .selectFrom("uploads")
      .select(["id", "safe_from_quarantine"])
      .where("id", "=", id)
      .executeTakeFirst();
    if (!row) return false;
    await this.db
      .updateTable("uploads")
      .set({ quarantined: true, quarantined_by: by })
      .where("id", "=", id)
      .where("safe_from_quarantine", "=", false)
      .execute();
    return true;
  }

  async unquarantine(id: string): Promise<boolean> {
    const r = await this.db
      .updateTable("uploads")
      .set({ quarantined: false, quarantined_by: null })
      .where("id", "=", id)
      .executeTakeFirst();
    return Number(r.numUpdatedRows) === 1;
  }

  /** Quarantines every unprotected upload of a user; the ids it quarantined now. */
  async quarantineUser(userId: string, by: string): Promise<string[]> {
    const rows = await this.db
      .updateTable("uploads")
      .set({ quarantined: true, quarantined_by: by })
      .where("user_id", "=", userId)
      .where("safe_from_quarantine", "=", false)
      .where("quarantined", "=", false)
      .returning("id")
      .execute();
    return rows.map((r) => r.id);
  }

  async protect(id: string, safe: boolean): Promise<boolean> {
    const r = await this.db
      .updateTable("uploads")
      .set({ safe_from_quarantine: safe })
      .where("id", "=", id)
      .executeTakeFirst();
    return Number(r.numUpdatedRows) === 1;
  }

  /**
   * Synapse's delete by date and size: uploads last used (read, else created) before `beforeTs`
   * and larger than `sizeGt`; quarantined and protected media are kept, as Synapse keeps them.
   */
  async idsUnusedSince(beforeTs: number, sizeGt: number): Promise<{ id: string; user_id: string }[]> {
    return this.db
      .selectFrom("uploads")
      .select(["id", "user_id"])
      .where((eb) =>
        eb.or([
          eb("last_access_at", "<", beforeTs),
          eb.and([eb("last_access_at", "is", null), eb("created_at", "<", beforeTs)]),
        ]),
      )
      .where(sql<boolean>`coalesce(bytes, 0) > ${sizeGt}`)
      .where("quarantined", "=", false)
      .where("safe_from_quarantine", "=", false)
      .orderBy("created_at")
      .execute();
  }

  /** Removes the rows of these uploads and their thumbnails in one transaction. */
  async deleteUploads(ids: string[]): Promise<DeletedRows> {
    if (ids.length === 0) return { ids: [], originals: [], thumbnails: [] };
    return this.db.transaction().execute(async (trx) => {
      const thumbs = await trx
        .deleteFrom("media_thumbnails")
        .where("media_id", "in", ids)
        .returning("storage_key")
        .execute();
      const rows = await trx
        .deleteFrom("uploads")
        .where("id", "in", ids)
        .returning(["id", "storage_key"])
        .execute();
      return {
        ids: rows.map((r) => r.id),
        originals: [...new Set(rows.flatMap((r) => (r.storage_key ? [r.storage_key] : [])))],
        thumbnails: thumbs.map((t) => t.storage_key),
      };
    });
  }
}
