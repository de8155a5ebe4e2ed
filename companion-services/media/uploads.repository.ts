import { type Kysely, type Selectable, sql, type Transaction } from "kysely";
import type { ContentTables, MediaTables } from "./tables.ts";

export type UploadRow = Selectable<ContentTables["uploads"]>;
export type ThumbnailRow = ContentTables["media_thumbnails"];

/** The finished upload's facts, written once its bytes are stored. */
export type StoredBytes = {
  contentType: string | null;
  sniffedType: string | null;
  uploadName: string | null;
  bytes: number;
  sha256: string;
  storageKey: string;
  width: number | null;
  height: number | null;
  uploadedAt: number;
};

/** All SQL on `uploads` and `media_thumbnails`. */
export class UploadsRepository {
  constructor(private readonly db: Kysely<MediaTables>) {}

  get(id: string): Promise<UploadRow | undefined> {
    return this.db.selectFrom("uploads").selectAll().where("id", "=", id).executeTakeFirst();
  }

  getMany(ids: string[]): Promise<UploadRow[]> {
    if (ids.length === 0) return Promise.resolve([]);
    return this.db.selectFrom("uploads").selectAll().where("id", "in", ids).execute();
  }

  /** A finished upload in one statement (POST /upload). */
  async insertComplete(
    trx: Transaction<MediaTables>,
    row: { id: string; userId: string; authenticated: boolean } & StoredBytes,
  ): Promise<void> {
    await trx
      .insertInto("uploads")
      .values({
        id: row.id,
        user_id: row.userId,
        created_at: row.uploadedAt,
        authenticated: row.authenticated,
        ...bytesColumns(row),
      })
      .execute();
  }

  /** A reserved id without bytes (POST /create). */
  async insertPending(row: {
    id: string;
    userId: string;
    createdAt: number;
    unusedExpiresAt: number;
    authenticated: boolean;
  }): Promise<void> {
    await this.db
      .insertInto("uploads")
      .values({
        id: row.id,
        user_id: row.userId,
        created_at: row.createdAt,
        unused_expires_at: row.unusedExpiresAt,
        authenticated: row.authenticated,
      })
      .execute();
  }

  /**
   * Gives a reserved id its bytes, unless it already has them or has expired: the condition in
   * the UPDATE makes two racing PUTs end with exactly one winner. True when this call won.
   */
  async completePending(
    trx: Transaction<MediaTables>,
    id: string,
    now: number,
    b: StoredBytes,
  ): Promise<boolean> {
    const r = await trx
      .updateTable("uploads")
      .set({ ...bytesColumns(b), unused_expires_at: null })
      .where("id", "=", id)
      .where("storage_key", "is", null)
      .where("unused_expires_at", ">", now)
      .executeTakeFirst();
    return Number(r.numUpdatedRows) === 1;
  }

  /** Reserved ids of a user still waiting for bytes, soonest expiry first. */
  async pendingExpiries(userId: string, now: number): Promise<number[]> {
    const rows = await this.db
      .selectFrom("uploads")
      .select("unused_expires_at")
      .where("user_id", "=", userId)
      .where("storage_key", "is", null)
      .where("unused_expires_at", ">", now)
      .orderBy("unused_expires_at")
      .execute();
    return rows.map((r) => r.unused_expires_at ?? now);
  }

  /** Bytes a user stores (quota). */
  async bytesOf(userId: string): Promise<number> {
    const r = await this.db
      .selectFrom("uploads")
      .select(sql<string | number | null>`coalesce(sum(bytes), 0)`.as("total"))
      .where("user_id", "=", userId)
      .executeTakeFirst();
    return Number(r?.total ?? 0);
  }

  /** Removes reserved ids that expired without bytes; returns how many. */
  async deleteExpiredPending(now: number): Promise<number> {
    const r = await this.db
      .deleteFrom("uploads")
      .where("storage_key", "is", null)
      .where("unused_expires_at", "<=", now)
      .executeTakeFirst();
    return Number(r.numDeletedRows);
  }

  /** Whether any upload still points at a stored blob (content-addressed blobs are shared). */
  async isBlobReferenced(storageKey: string): Promise<boolean> {
    const r = await this.db
      .selectFrom("uploads")
      .select("id")
      .where("storage_key", "=", storageKey)
      .limit(1)
      .executeTakeFirst();
    return r !== undefined;
  }

  async touch(ids: string[], now: number): Promise<void> {
    if (ids.length === 0) return;
    await this.db.updateTable("uploads").set({ last_access_at: now }).where("id", "in", ids).execute();
  }

  thumbnails(mediaId: string): Promise<ThumbnailRow[]> {
    return this.db.selectFrom("media_thumbnails").selectAll().where("media_id", "=", mediaId).execute();
  }

  async insertThumbnail(row: ThumbnailRow): Promise<void> {
    await this.db
      .insertInto("media_thumbnails")
      .values(row)
      .onConflict((oc) => oc.columns(["media_id", "width", "height", "method", "animated"]).doNothing())
      .execute();
  }
}

function bytesColumns(b: StoredBytes) {
  return {
    content_type: b.contentType,
    sniffed_type: b.sniffedType,
    upload_name: b.uploadName,
    bytes: b.bytes,
    sha256: b.sha256,
    storage_key: b.storageKey,
    width: b.width,
    height: b.height,
    uploaded_at: b.uploadedAt,
  };
}
