import type { IdentityClient } from "../../identity/client.ts";
import { invalidParam, notFound } from "../../platform/errors.ts";
import type { Logger } from "../../platform/logger.ts";
import { isMediaId, mxcOf } from "../ids.ts";
import type { MediaService } from "../service.ts";
import type { BlobStore } from "../storage/blob-store.ts";
import type { UploadRow, UploadsRepository } from "../uploads.repository.ts";
import type { DeletedRows, MediaAdminRepository, Page } from "./admin.repository.ts";

const USER_ID = /^@[^:\s]{1,255}:[^\s]{1,255}$/;

/** Synapse's answer to a delete. */
export type DeleteResult = { deleted_media: string[]; total: number };

/**
 * The media admin operations (Synapse's media admin API): list, quarantine, protect and delete
 * local media. Deleting removes rows first (one transaction), then the bytes no upload still
 * points at (originals are content-addressed and may be shared) and the thumbnails.
 */
export class MediaAdmin {
  constructor(
    private readonly repo: MediaAdminRepository,
    private readonly uploads: UploadsRepository,
    private readonly media: MediaService,
    private readonly blobs: BlobStore,
    private readonly identity: Pick<IdentityClient, "getUser" | "getUsers">,
    private readonly logger: Logger,
  ) {}

  get serverName(): string {
    return this.media.serverName;
  }

  /** A local user's id from a path: 400 for a malformed or remote one, 404 for an unknown one. */
  async localUser(raw: string): Promise<string> {
    if (!USER_ID.test(raw)) throw invalidParam("Invalid user id");
    if (!raw.endsWith(`:${this.serverName}`)) throw invalidParam("Can only look up local users");
    if (!(await this.identity.getUser(raw))) throw notFound("Unknown user");
    return raw;
  }

  /** A media id from a path; `serverName` (when the path has one) must be this server. */
  localMedia(serverName: string | null, mediaId: string): string {
    if (serverName !== null) this.localServer(serverName);
    if (!isMediaId(mediaId)) throw invalidParam("Invalid media id");
    return mediaId;
  }

  /** Nova has no remote media cache: another server's name is a client mistake (Synapse: 400). */
  localServer(serverName: string): void {
    if (serverName !== this.serverName) throw invalidParam("Can only manage local media");
  }

  async userMedia(userId: string, page: Page) {
    const { rows, total } = await this.repo.userMedia(userId, page);
    const end = page.from + rows.length;
    return {
      media: rows.map(mediaJson),
      total,
      ...(end < total && rows.length > 0 ? { next_token: end } : {}),
    };
  }

  /** Synapse deletes the page of the user's media that the same query would list. */
  async deleteUserMedia(userId: string, page: Page): Promise<DeleteResult> {
    const { rows } = await this.repo.userMedia(userId, page);
    return this.remove(rows.map((r) => r.id));
  }

  async info(mediaId: string) {
    const row = await this.uploads.get(mediaId);
    if (!row) throw notFound("Unknown media");
    return {
      media_info: {
        media_origin: this.serverName,
        user_id: row.user_id,
        ...mediaJson(row),
        authenticated: row.authenticated,
        sha256: row.sha256,
      },
    };
  }

  async quarantine(mediaId: string, admin: string): Promise<void> {
    if (!(await this.repo.quarantine(mediaId, admin))) throw notFound("Unknown media");
    this.media.forget(mediaId);
  }

  async unquarantine(mediaId: string): Promise<void> {
    if (!(await this.repo.unquarantine(mediaId))) throw notFound("Unknown media");
    this.media.forget(mediaId);
  }

  async quarantineUser(userId: string, admin: string): Promise<number> {
    const ids = await this.repo.quarantineUser(userId, admin);
    for (const id of ids) this.media.forget(id);
    return ids.length;
  }

  async protect(mediaId: string, safe: boolean): Promise<void> {
    if (!(await this.repo.protect(mediaId, safe))) throw notFound("Unknown media");
  }

  async deleteOne(mediaId: string): Promise<DeleteResult> {
    if (!(await this.uploads.get(mediaId))) throw notFound("Unknown media");
    return this.remove([mediaId]);
  }

  /**
   * Synapse's delete by date and size. With `keepProfiles`, media that is its uploader's current
   * avatar stays (room avatars are messaging's state and are not consulted: see docs/admin-api.md).
   */
  async deleteUnusedSince(beforeTs: number, sizeGt: number, keepProfiles: boolean): Promise<DeleteResult> {
    let candidates = await this.repo.idsUnusedSince(beforeTs, sizeGt);
    if (keepProfiles && candidates.length > 0) {
      const uploaders = await this.identity.getUsers([...new Set(candidates.map((c) => c.user_id))]);
      const avatars = new Set(uploaders.flatMap((u) => (u.avatarUrl ? [u.avatarUrl] : [])));
      candidates = candidates.filter((c) => !avatars.has(mxcOf(this.serverName, c.id)));
    }
    return this.remove(candidates.map((c) => c.id));
  }

  private async remove(ids: string[]): Promise<DeleteResult> {
    const deleted = await this.repo.deleteUploads(ids);
    for (const id of deleted.ids) this.media.forget(id);
    await this.removeBlobs(deleted);
    this.logger.info({ media: deleted.ids.length }, "media admin deleted media");
    return { deleted_media: deleted.ids, total: deleted.ids.length };
  }

  /** After the rows are gone: a failed blob delete leaves an orphan file, never a row without bytes. */
  private async removeBlobs(d: DeletedRows): Promise<void> {
    const keys = new Set(d.thumbnails);
    for (const id of d.ids) {
      // Thumbnails rendered but whose row was not yet written are under the same prefix.
      for (const key of await this.blobs.list(`thumbnails/${id}`)) keys.add(key);
    }
    for (const key of d.originals) {
      if (!(await this.uploads.isBlobReferenced(key))) keys.add(key);
    }
    for (const key of keys) {
      await this.blobs
        .delete(key)
        .catch((err: unknown) => this.logger.warn({ err, key }, "deleting a media blob failed"));
    }
  }
}

/** The media object of Synapse's user media list (and the shared part of media_info). */
function mediaJson(r: UploadRow) {
  return {
    media_id: r.id,
    media_type: r.content_type ?? r.sniffed_type,
    media_length: r.bytes,
    upload_name: r.upload_name,
    created_ts: Number(r.created_at),
    last_access_ts: r.last_access_at === null ? null : Number(r.last_access_at),
    quarantined_by: r.quarantined_by,
    safe_from_quarantine: r.safe_from_quarantine,
  };
}
