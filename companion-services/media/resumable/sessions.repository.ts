import type { Kysely, Selectable } from "kysely";
import type { MediaTables } from "../tables.ts";

export type SessionRow = Selectable<MediaTables["upload_sessions"]>;
export type ChunkRow = Selectable<MediaTables["upload_chunks"]>;

export type NewSession = {
  id: string;
  userId: string;
  totalBytes: number;
  contentType: string | null;
  uploadName: string | null;
  metadata: string | null;
  createdAt: number;
  expiresAt: number;
};

/** The blob key of one chunk of a session. */
export function chunkKey(sessionId: string, part: number): string {
  return `chunks/${sessionId}/${part}`;
}

/** The prefix under which a session's chunk blobs live. */
export function chunkPrefix(sessionId: string): string {
  return `chunks/${sessionId}/`;
}

/** All SQL of resumable uploads: `upload_sessions` and `upload_chunks`. */
export class SessionsRepository {
  constructor(private readonly db: Kysely<MediaTables>) {}

  async create(s: NewSession): Promise<void> {
    await this.db
      .insertInto("upload_sessions")
      .values({
        id: s.id,
        user_id: s.userId,
        content_type: s.contentType,
        total_bytes: s.totalBytes,
        received_bytes: 0,
        created_at: s.createdAt,
        expires_at: s.expiresAt,
        upload_name: s.uploadName,
        metadata: s.metadata,
        media_id: null,
        completed_at: null,
      })
      .execute();
  }

  async find(id: string): Promise<SessionRow | null> {
    const row = await this.db
      .selectFrom("upload_sessions")
      .selectAll()
      .where("id", "=", id)
      .executeTakeFirst();
    return row ?? null;
  }

  /**
   * Records one chunk and advances the offset from `offset` to `offset + bytes`, atomically: the
   * session's row is updated only while its offset is still `offset` and the new one stays within
   * the declared length (the row lock serialises writers in every process). `putBlob` stores the
   * chunk's bytes under the part number it is handed, inside the transaction, so a chunk row never
   * exists without its blob. Returns the new offset, or null when the offset had moved on (or the
   * session is gone, complete or expired), in which case nothing was written.
   */
  async appendChunk(
    sessionId: string,
    offset: number,
    chunk: { bytes: number; sha256: string },
    now: number,
    putBlob: (part: number) => Promise<void>,
  ): Promise<number | null> {
    return this.db.transaction().execute(async (trx) => {
      const advanced = await trx
        .updateTable("upload_sessions")
        .set({ received_bytes: offset + chunk.bytes })
        .where("id", "=", sessionId)
        .where("received_bytes", "=", offset)
        .where("total_bytes", ">=", offset + chunk.bytes)
        .where("media_id", "is", null)
        .where("expires_at", ">", now)
        .returning("received_bytes")
        .executeTakeFirst();
      if (!advanced) return null;
      const last = await trx
        .selectFrom("upload_chunks")
        .select((eb) => eb.fn.max("part").as("part"))
        .where("session_id", "=", sessionId)
        .executeTakeFirst();
      const part = last?.part === null || last?.part === undefined ? 0 : Number(last.part) + 1;
      await trx
        .insertInto("upload_chunks")
        .values({ session_id: sessionId, part, bytes: chunk.bytes, sha256: chunk.sha256 })
        .execute();
      await putBlob(part);
      return advanced.received_bytes;
    });
  }

  /** A session's chunks in upload order. */
  async chunks(sessionId: string): Promise<ChunkRow[]> {
    return this.db
      .selectFrom("upload_chunks")
      .selectAll()
      .where("session_id", "=", sessionId)
      .orderBy("part", "asc")
      .execute();
  }

  /**
   * Records the media a completed session became and forgets its chunk rows. Only the first
   * caller wins; returns the media id the session holds afterwards (this one or the winner's).
   */
  async markCompleted(sessionId: string, mediaId: string, now: number): Promise<string | null> {
    return this.db.transaction().execute(async (trx) => {
      const won = await trx
        .updateTable("upload_sessions")
        .set({ media_id: mediaId, completed_at: now })
        .where("id", "=", sessionId)
        .where("media_id", "is", null)
        .returning("media_id")
        .executeTakeFirst();
      if (won) {
        await trx.deleteFrom("upload_chunks").where("session_id", "=", sessionId).execute();
        return mediaId;
      }
      const row = await trx
        .selectFrom("upload_sessions")
        .select("media_id")
        .where("id", "=", sessionId)
        .executeTakeFirst();
      return row?.media_id ?? null;
    });
  }

  /** Deletes a session (its chunk rows cascade); false when there was none. */
  async remove(sessionId: string): Promise<boolean> {
    const r = await this.db.deleteFrom("upload_sessions").where("id", "=", sessionId).executeTakeFirst();
    return Number(r.numDeletedRows) > 0;
  }

  /** Ids of sessions that expired by `now`, oldest first. */
  async expired(now: number, limit: number): Promise<string[]> {
    const rows = await this.db
      .selectFrom("upload_sessions")
      .select("id")
      .where("expires_at", "<=", now)
      .orderBy("expires_at", "asc")
      .limit(limit)
      .execute();
    return rows.map((r) => r.id);
  }
}
