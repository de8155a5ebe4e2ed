import { EventEmitter } from "node:events";
import type { Kysely } from "kysely";
import { forbidden, limitExceeded, MatrixError, notFound } from "../platform/errors.ts";
import type { Logger } from "../platform/logger.ts";
import { withOutbox } from "../platform/outbox/writer.ts";
import type { MediaClient, MediaInfo, ReelInfo, VideoInfo } from "./client.ts";
import { MEDIA_AGGREGATE } from "./events.ts";
import { mxcOf, newMediaId, parseMxc } from "./ids.ts";
import type { MediaLibrary } from "./library.ts";
import type { UploadLimits } from "./limits.ts";
import { Lru } from "./lru.ts";
import type { BlobStore } from "./storage/blob-store.ts";
import { storeBytes } from "./store.ts";
import type { MediaTables } from "./tables.ts";
import type { Thumbnailer } from "./thumbnails/thumbnailer.ts";
import type { StoredBytes, UploadRow, UploadsRepository } from "./uploads.repository.ts";

export type MediaServiceSettings = {
  serverName: string;
  schema: string;
  maxPending: number;
  unusedExpiryMs: number;
  /** Epoch ms: media created before it is reachable on the legacy unauthenticated endpoints. */
  legacyFreezeTs: number;
};

export type NewUpload = {
  userId: string;
  bytes: Buffer;
  contentType?: string | undefined;
  uploadName?: string | undefined;
  /** The client's address, for the per-IP upload bucket (absent for uploads media makes itself). */
  ip?: string | undefined;
};

/** The video side (video/): GetVideo and GetReel delegate to it, and video uploads are queued on it. */
export type VideoLookup = {
  getVideo(id: string): Promise<VideoInfo | null>;
  getReel(id: string): Promise<ReelInfo | null>;
  /** Absent when uploads are not transcoded on their own (NOVA_MEDIA_TRANSCODE_UPLOADS=0). */
  transcodeUpload?: (userId: string, mxc: string, title: string | null) => Promise<unknown>;
};

/** A download's row once its bytes are there. */
export type ReadyMedia = UploadRow & { storage_key: string; bytes: number };

const POLL_MS = 500;
/** How long a ready row is served from memory before it is read again (see readyRows). */
const READY_TTL_MS = 10_000;
/** How often reads are written to last_access_at. */
const ACCESS_FLUSH_MS = 5_000;

/**
 * The content repository: uploads (direct and MSC2246's create-then-PUT), reads that wait for a
 * pending upload, and the lookups other services and media's own parts use.
 */
export class MediaService implements MediaLibrary, MediaClient {
  readonly serverName: string;
  /** Wakes readers waiting on a pending id in this process (others poll). */
  private readonly uploaded = new EventEmitter();
  /** Async PUTs in progress here: a second one to the same id is refused, not raced. */
  private readonly putting = new Set<string>();
  private video: VideoLookup | null = null;
  /**
   * Rows whose bytes have arrived change only by an admin's quarantine or delete: this process
   * forgets them at once (forget()), other media replicas within READY_TTL_MS.
   */
  private readonly readyRows = new Lru<string, { row: ReadyMedia; at: number }>("media_rows", 10_000);
  /** Ids read since the last write of last_access_at (Synapse's last_access_ts, batched). */
  private accessed = new Set<string>();
  private accessFlush: NodeJS.Timeout | null = null;
  /** After-upload work still running (thumbnails, queueing a video), for idle() and shutdown. */
  private readonly background = new Set<Promise<void>>();

  constructor(
    private readonly db: Kysely<MediaTables>,
    private readonly repo: UploadsRepository,
    readonly blobs: BlobStore,
    private readonly limits: UploadLimits,
    private readonly thumbnailer: Thumbnailer,
    private readonly logger: Logger,
    private readonly settings: MediaServiceSettings,
  ) {
    this.serverName = settings.serverName;
    this.uploaded.setMaxListeners(0);
  }

  attachVideo(video: VideoLookup): void {
    this.video = video;
  }

  /** `POST /upload`: rate, quota, store, row and event; returns the new mxc URI. */
  async upload(input: NewUpload): Promise<{ mediaId: string; mxc: string }> {
    await this.limits.take(input.userId, input.ip);
    return this.storeUpload(input);
  }

  /** MediaLibrary: the same as `POST /upload` without the request rate (a tus completion, a preview image). */
  async storeUpload(input: NewUpload): Promise<{ mediaId: string; mxc: string }> {
    if (this.limits.hasQuota)
      this.limits.checkQuota(await this.repo.bytesOf(input.userId), input.bytes.length);
    const now = Date.now();
    const stored = await storeBytes(this.blobs, input.bytes, {
      contentType: input.contentType ?? null,
      uploadName: input.uploadName ?? null,
      now,
    });
    const id = newMediaId();
    await withOutbox(this.db, this.settings.schema, async (trx, emit) => {
      await this.repo.insertComplete(trx, {
        id,
        userId: input.userId,
        authenticated: now >= this.settings.legacyFreezeTs,
        ...stored,
      });
      emit(this.uploadedEvent(id, input.userId, stored));
    });
    this.track(this.afterStore(id));
    return { mediaId: id, mxc: mxcOf(this.serverName, id) };
  }

  /** `POST /create` (MSC2246): reserves an id for the caller; 429 past the pending cap. */
  async create(userId: string, ip?: string): Promise<{ mxc: string; unusedExpiresAt: number }> {
    await this.limits.take(userId, ip);
    const now = Date.now();
    const pending = await this.repo.pendingExpiries(userId, now);
    if (pending.length >= this.settings.maxPending) {
      throw limitExceeded(Math.max(1, (pending[0] ?? now) - now));
    }
    const id = newMediaId();
    const unusedExpiresAt = now + this.settings.unusedExpiryMs;
    await this.repo.insertPending({
      id,
      userId,
      createdAt: now,
      unusedExpiresAt,
      authenticated: now >= this.settings.legacyFreezeTs,
    });
    return { mxc: mxcOf(this.serverName, id), unusedExpiresAt };
  }

  /** `PUT /upload/{server}/{id}`: the checks in the spec's order, then the bytes. */
  async put(userId: string, mediaId: string, input: Omit<NewUpload, "userId">): Promise<void> {
    const row = await this.repo.get(mediaId);
    const now = Date.now();
    if (!row) throw notFound("Media not found");
    if (row.user_id !== userId) throw forbidden("You did not create this media id");
    if (row.storage_key !== null || this.putting.has(mediaId)) {
      throw new MatrixError(409, "M_CANNOT_OVERWRITE_MEDIA", "Media already uploaded");
    }
    if ((row.unused_expires_at ?? 0) <= now) throw notFound("Media id expired");
    await this.limits.take(userId, input.ip);
    if (this.limits.hasQuota) this.limits.checkQuota(await this.repo.bytesOf(userId), input.bytes.length);
    this.putting.add(mediaId);
    try {
      const stored = await storeBytes(this.blobs, input.bytes, {
        contentType: input.contentType ?? null,
        uploadName: input.uploadName ?? null,
        now,
      });
      const won = await withOutbox(this.db, this.settings.schema, async (trx, emit) => {
        const ok = await this.repo.completePending(trx, mediaId, now, stored);
        if (ok) emit(this.uploadedEvent(mediaId, userId, stored));
        return ok;
      });
      if (!won) throw new MatrixError(409, "M_CANNOT_OVERWRITE_MEDIA", "Media already uploaded");
    } finally {
      this.putting.delete(mediaId);
    }
    this.uploaded.emit(mediaId);
    this.track(this.afterStore(mediaId));
  }

  /**
   * A local media id ready to read: waits up to `timeoutMs` for a pending upload (504
   * M_NOT_YET_UPLOADED after), 404 for unknown, expired and quarantined media, and on the legacy
   * endpoints (`legacy`) for media created after the freeze.
   */
  async ready(
    mediaId: string,
    opts: { timeoutMs: number; legacy?: boolean; signal?: Promise<void> },
  ): Promise<ReadyMedia> {
    const cached = this.readyRows.get(mediaId);
    if (cached && Date.now() - cached.at < READY_TTL_MS) {
      if (opts.legacy && cached.row.authenticated) throw notFound("Media not found");
      this.noteAccess(mediaId);
      return cached.row;
    }
    const deadline = Date.now() + opts.timeoutMs;
    for (;;) {
      const row = await this.repo.get(mediaId);
      if (!row || row.quarantined || (opts.legacy && row.authenticated)) throw notFound("Media not found");
      if (row.storage_key !== null && row.bytes !== null) {
        const ready = row as ReadyMedia;
        this.readyRows.set(mediaId, { row: ready, at: Date.now() });
        this.noteAccess(mediaId);
        return ready;
      }
      const now = Date.now();
      if ((row.unused_expires_at ?? 0) <= now) throw notFound("Media not found");
      if (now >= deadline) {
        throw new MatrixError(504, "M_NOT_YET_UPLOADED", "Media has not been uploaded yet");
      }
      await this.waitForUpload(mediaId, Math.min(POLL_MS, deadline - now), opts.signal);
    }
  }

  private waitForUpload(mediaId: string, ms: number, signal?: Promise<void>): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.uploaded.off(mediaId, done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.uploaded.once(mediaId, done);
      void signal?.then(done);
    });
  }

  /** Forgets what this process holds of a media id (quarantined, unquarantined or deleted). */
  forget(mediaId: string): void {
    this.readyRows.delete(mediaId);
    this.thumbnailer.forget(mediaId);
  }

  /** Bytes of a ready media, whole or an inclusive range. */
  read(row: ReadyMedia, range?: { start: number; end: number }): Promise<Buffer | null> {
    return this.blobs.get(row.storage_key, range);
  }

  thumbnails(): Thumbnailer {
    return this.thumbnailer;
  }

  // MediaLibrary and MediaClient

  async info(mediaId: string): Promise<MediaInfo | null> {
    const row = await this.repo.get(mediaId);
    return row && !row.quarantined ? this.toInfo(row) : null;
  }

  async bytes(mediaId: string): Promise<Buffer | null> {
    const row = await this.repo.get(mediaId);
    if (!row || row.quarantined || !row.storage_key) return null;
    return this.blobs.get(row.storage_key);
  }

  async getMedia(mxc: string): Promise<MediaInfo | null> {
    const parsed = parseMxc(mxc);
    if (!parsed || parsed.serverName !== this.serverName) return null;
    return this.info(parsed.mediaId);
  }

  async getMediaBatch(mxcs: string[]): Promise<MediaInfo[]> {
    const ids = mxcs
      .map(parseMxc)
      .filter((p) => p !== null && p.serverName === this.serverName)
      .map((p) => p?.mediaId ?? "");
    const rows = await this.repo.getMany([...new Set(ids)]);
    return rows.filter((r) => !r.quarantined).map((r) => this.toInfo(r));
  }

  getVideo(id: string): Promise<VideoInfo | null> {
    return this.video ? this.video.getVideo(id) : Promise.resolve(null);
  }

  getReel(id: string): Promise<ReelInfo | null> {
    return this.video ? this.video.getReel(id) : Promise.resolve(null);
  }

  /** Forgets reserved ids that expired without bytes. */
  sweepExpired(): Promise<number> {
    return this.repo.deleteExpiredPending(Date.now());
  }

  private toInfo(row: UploadRow): MediaInfo {
    return {
      mxc: mxcOf(this.serverName, row.id),
      serverName: this.serverName,
      mediaId: row.id,
      userId: row.user_id,
      contentType: row.content_type,
      uploadName: row.upload_name,
      bytes: row.bytes,
      sha256: row.sha256,
      width: row.width,
      height: row.height,
      createdAt: row.created_at,
      pending: row.storage_key === null,
    };
  }

  private uploadedEvent(id: string, userId: string, s: StoredBytes) {
    return {
      aggregateType: MEDIA_AGGREGATE,
      aggregateId: userId,
      eventType: "media.uploaded",
      payload: {
        mxc: mxcOf(this.serverName, id),
        media_id: id,
        user_id: userId,
        content_type: s.sniffedType ?? s.contentType,
        bytes: s.bytes,
        sha256: s.sha256,
      },
    };
  }

  /** Marks a read; the ids are written at most every ACCESS_FLUSH_MS (one UPDATE per batch). */
  private noteAccess(mediaId: string): void {
    this.accessed.add(mediaId);
    if (this.accessFlush) return;
    this.accessFlush = setTimeout(() => this.track(this.flushAccess()), ACCESS_FLUSH_MS);
    this.accessFlush.unref();
  }

  private async flushAccess(): Promise<void> {
    if (this.accessFlush) clearTimeout(this.accessFlush);
    this.accessFlush = null;
    const ids = [...this.accessed];
    this.accessed = new Set();
    try {
      await this.repo.touch(ids, Date.now());
    } catch (err) {
      this.logger.warn({ err, media: ids.length }, "recording media access times failed");
    }
  }

  /** Resolves once the work started by uploads so far (thumbnails, video queueing) is done. */
  async idle(): Promise<void> {
    if (this.accessed.size > 0) this.track(this.flushAccess());
    while (this.background.size > 0) await Promise.all([...this.background]);
    await this.thumbnailer.idle();
  }

  private track(work: Promise<void>): void {
    this.background.add(work);
    void work.finally(() => this.background.delete(work));
  }

  private async afterStore(id: string): Promise<void> {
    try {
      const row = await this.repo.get(id);
      if (!row) return;
      // A video the bytes show to be one (never ciphertext: it sniffs as nothing) is transcoded.
      if (row.sniffed_type?.startsWith("video/") && this.video?.transcodeUpload) {
        await this.video.transcodeUpload(row.user_id, mxcOf(this.serverName, id), row.upload_name);
      }
      await this.thumbnailer.pregenerate(row);
    } catch (err) {
      this.logger.warn({ err, media: id }, "after-upload work failed");
    }
  }
}
