import { MatrixError, tooLarge } from "../../platform/errors.ts";
import type { Logger } from "../../platform/logger.ts";
import { Lru } from "../lru.ts";
import type { BlobStore } from "../storage/blob-store.ts";
import type { ThumbnailRow, UploadRow, UploadsRepository } from "../uploads.repository.ts";
import { imageFacts, render, THUMBNAILABLE, ThumbnailError } from "./render.ts";
import {
  MAX_EDGE,
  originalSuffices,
  outputSize,
  PREGENERATED,
  pickStored,
  type ThumbnailRequest,
} from "./sizes.ts";

const ANIMATABLE = new Set(["image/gif", "image/webp"]);

export type Thumbnail =
  | { kind: "thumbnail"; bytes: Buffer; contentType: string }
  /** The original is no bigger than the request: serve it as it is. */
  | { kind: "original" };

/**
 * Thumbnails of local images: the spec's sizes made once after upload, any other size made on
 * first request and kept. Renders of one size are shared while in flight, and rendering runs one
 * at a time per process in the background queue so a burst of uploads cannot take every core.
 */
export class Thumbnailer {
  private readonly inFlight = new Map<string, Promise<{ row: ThumbnailRow; bytes: Buffer }>>();
  private queue: Promise<void> = Promise.resolve();
  /** The thumbnails known per media id (a list only grows). */
  private readonly known = new Lru<string, ThumbnailRow[]>("media_thumbnails", 10_000);
  /** Thumbnails rendered and served but still being written. */
  private readonly writing = new Set<Promise<void>>();

  constructor(
    private readonly repo: UploadsRepository,
    private readonly blobs: BlobStore,
    private readonly logger: Logger,
  ) {}

  /** Queues the pre-generated sizes of a new upload; never throws. */
  pregenerate(row: UploadRow): Promise<void> {
    if (!row.sniffed_type || !THUMBNAILABLE.has(row.sniffed_type) || !row.width || !row.height) {
      return Promise.resolve();
    }
    const job = this.queue.then(async () => {
      try {
        const bytes = row.storage_key ? await this.blobs.get(row.storage_key) : null;
        if (!bytes) return;
        const facts = await imageFacts(bytes);
        for (const size of PREGENERATED) {
          if (originalSuffices(facts, size)) continue;
          await this.renderOnce(row, bytes, { ...size, animated: false });
        }
      } catch (err) {
        this.logger.debug({ err, media: row.id }, "pre-generating thumbnails failed");
      }
    });
    this.queue = job;
    return job;
  }

  /** Waits for queued pre-generation and thumbnails still being written (tests, shutdown). */
  async idle(): Promise<void> {
    await this.queue;
    while (this.writing.size > 0) await Promise.all([...this.writing]);
  }

  /** Drops what this process knows of a media's thumbnails (it was deleted). */
  forget(mediaId: string): void {
    this.known.delete(mediaId);
  }

  private async list(mediaId: string): Promise<ThumbnailRow[]> {
    const cached = this.known.get(mediaId);
    if (cached) return cached;
    const rows = await this.repo.thumbnails(mediaId);
    this.known.set(mediaId, rows);
    return rows;
  }

  /** A thumbnail for a request: 400 for what cannot be thumbnailed, 413 over the pixel cap. */
  async get(row: UploadRow, req: ThumbnailRequest): Promise<Thumbnail> {
    if (!row.sniffed_type || !THUMBNAILABLE.has(row.sniffed_type) || !row.storage_key) {
      throw new MatrixError(400, "M_UNKNOWN", "Cannot generate thumbnails for this content");
    }
    if (!row.width || !row.height) throw new MatrixError(400, "M_UNKNOWN", "Cannot decode the image");
    const original = { width: row.width, height: row.height };
    const animatable = ANIMATABLE.has(row.sniffed_type);
    req = { ...req, animated: req.animated && animatable };
    // The original answers a request it fits in, unless it may be animated and animation was not
    // asked for (animated=false must never get frames).
    if (originalSuffices(original, req) && (req.animated || !animatable)) return { kind: "original" };
    req = { ...req, width: Math.min(req.width, MAX_EDGE), height: Math.min(req.height, MAX_EDGE) };
    const want = outputSize(original, req);
    const stored = pickStored(await this.list(row.id), req, want);
    if (stored) {
      const bytes = await this.blobs.get(stored.storage_key);
      // Thumbnails are written without fsync: one torn by a crash is made again.
      if (bytes && bytes.length === stored.bytes)
        return { kind: "thumbnail", bytes, contentType: stored.content_type };
    }
    const bytes = await this.blobs.get(row.storage_key);
    if (!bytes) throw new MatrixError(404, "M_NOT_FOUND", "Media not found");
    try {
      const made = await this.renderOnce(row, bytes, req);
      return { kind: "thumbnail", bytes: made.bytes, contentType: made.row.content_type };
    } catch (err) {
      if (err instanceof ThumbnailError) {
        if (err.tooLarge) throw tooLarge(err.message);
        throw new MatrixError(400, "M_UNKNOWN", err.message);
      }
      throw err;
    }
  }

  private renderOnce(
    row: UploadRow,
    bytes: Buffer,
    req: ThumbnailRequest,
  ): Promise<{ row: ThumbnailRow; bytes: Buffer }> {
    const key = `${row.id}:${req.width}x${req.height}:${req.method}:${req.animated}`;
    const existing = this.inFlight.get(key);
    if (existing) return existing;
    const p = (async () => {
      // Frames matter only for an animated request; the dimensions are known from the upload.
      const facts = req.animated
        ? await imageFacts(bytes)
        : { width: row.width ?? 0, height: row.height ?? 0, pages: 1 };
      const out = await render(bytes, row.sniffed_type ?? "", facts, req);
      const storageKey = `thumbnails/${row.id}/${out.width}x${out.height}-${req.method}${out.animated ? "-animated" : ""}`;
      const thumb: ThumbnailRow = {
        media_id: row.id,
        width: out.width,
        height: out.height,
        method: req.method,
        animated: out.animated,
        content_type: out.contentType,
        bytes: out.bytes.length,
        storage_key: storageKey,
        created_at: Date.now(),
      };
      // Served from the render at once; kept for next time in the background. Until it is kept,
      // the same request shares this render (the in-flight entry lives until the write ends).
      const write = (async () => {
        try {
          await this.blobs.put(storageKey, out.bytes, { durable: false });
          await this.repo.insertThumbnail(thumb);
          this.known.delete(row.id);
        } catch (err) {
          this.logger.warn({ err, media: row.id }, "keeping a thumbnail failed");
        } finally {
          this.inFlight.delete(key);
        }
      })();
      this.writing.add(write);
      void write.finally(() => this.writing.delete(write));
      return { row: thumb, bytes: out.bytes };
    })();
    p.catch(() => this.inFlight.delete(key));
    this.inFlight.set(key, p);
    return p;
  }
}
