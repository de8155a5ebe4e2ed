import { createHash } from "node:crypto";
import type { Readable } from "node:stream";
import { DataStore, ERRORS, Metadata, Upload } from "@tus/server";
import type { Logger } from "../../platform/logger.ts";
import type { BlobStore } from "../storage/blob-store.ts";
import { uploadCaller } from "./caller.ts";
import { SessionChunks } from "./chunks.ts";
import { tusError } from "./errors.ts";
import { MAX_METADATA_CHARS, parseUploadMetadata } from "./metadata.ts";
import { resumableBytesReceived, resumableSessionsCreated } from "./metrics.ts";
import { chunkKey, type SessionRow, type SessionsRepository } from "./sessions.repository.ts";

export type SessionStoreDeps = {
  sessions: SessionsRepository;
  blobs: BlobStore;
  logger: Logger;
  /** How long a session lives from its creation, ms. */
  expiryMs: number;
  now?: () => number;
};

/**
 * @tus/server's DataStore on media's tables and BlobStore. A session is a row of
 * `upload_sessions`; each PATCH that carries bytes becomes one chunk blob
 * (`chunks/<session>/<part>`) and one `upload_chunks` row, and advances `received_bytes` (the tus
 * offset) by compare-and-set, so a stale or concurrent writer from any process gets 409 and
 * leaves nothing behind. Assembling a completed session is `UploadFinisher`'s job (complete.ts).
 *
 * Extensions: creation, creation-with-upload, termination, expiration. Not offered:
 * creation-defer-length (a session's length must be known to enforce the media size limit up
 * front; tus answers 501), concatenation (parallel uploads) and checksum.
 */
export class SessionStore extends DataStore {
  private readonly now: () => number;
  private readonly chunks: SessionChunks;

  constructor(private readonly deps: SessionStoreDeps) {
    super();
    this.extensions = ["creation", "creation-with-upload", "termination", "expiration"];
    this.now = deps.now ?? Date.now;
    this.chunks = new SessionChunks(deps);
  }

  override async create(upload: Upload): Promise<Upload> {
    const caller = uploadCaller.getStore();
    if (!caller) throw new Error("SessionStore.create outside an authenticated request");
    if (upload.size === undefined) throw ERRORS.UNSUPPORTED_CREATION_DEFER_LENGTH_EXTENSION;
    const metadata = upload.metadata ? Metadata.stringify(upload.metadata) : null;
    if (metadata !== null && metadata.length > MAX_METADATA_CHARS) {
      throw tusError(
        400,
        "M_INVALID_PARAM",
        `Upload-Metadata is longer than ${MAX_METADATA_CHARS} characters`,
      );
    }
    const { contentType, uploadName } = parseUploadMetadata(upload.metadata);
    const createdAt = this.now();
    const expiresAt = createdAt + this.deps.expiryMs;
    await this.deps.sessions.create({
      id: upload.id,
      userId: caller.userId,
      totalBytes: upload.size,
      contentType,
      uploadName,
      metadata,
      createdAt,
      expiresAt,
    });
    resumableSessionsCreated.inc();
    upload.creation_date = this.creationDate(expiresAt);
    return upload;
  }

  override async getUpload(id: string): Promise<Upload> {
    const row = await this.deps.sessions.find(id);
    if (!row) throw ERRORS.FILE_NOT_FOUND;
    return this.toUpload(row);
  }

  /**
   * Stores one PATCH's bytes (tus has already checked the offset against the session's and
   * bounded the body by the declared length). An empty body changes nothing.
   */
  override async write(stream: Readable, id: string, offset: number): Promise<number> {
    const parts: Buffer[] = [];
    for await (const piece of stream)
      parts.push(Buffer.isBuffer(piece) ? piece : Buffer.from(piece as Uint8Array));
    const bytes = parts.length === 1 ? parts[0]! : Buffer.concat(parts);
    if (bytes.length === 0) return offset;
    const sha256 = createHash("sha256").update(bytes).digest("hex");
    const next = await this.deps.sessions.appendChunk(
      id,
      offset,
      { bytes: bytes.length, sha256 },
      this.now(),
      (part) => this.deps.blobs.put(chunkKey(id, part), bytes),
    );
    if (next === null) {
      const row = await this.deps.sessions.find(id);
      if (!row) throw ERRORS.FILE_NOT_FOUND;
      if (row.expires_at <= this.now()) throw ERRORS.FILE_NO_LONGER_EXISTS;
      if (row.received_bytes === offset) throw ERRORS.ERR_SIZE_EXCEEDED;
      throw ERRORS.INVALID_OFFSET;
    }
    resumableBytesReceived.inc(bytes.length);
    return next;
  }

  /** Termination: the session and its chunks go; media it completed into stays. */
  override async remove(id: string): Promise<void> {
    if (!(await this.deps.sessions.remove(id))) throw ERRORS.FILE_NOT_FOUND;
    await this.chunks.removeChunkBlobs(id);
  }

  override async declareUploadLength(): Promise<void> {
    throw ERRORS.UNSUPPORTED_CREATION_DEFER_LENGTH_EXTENSION;
  }

  /** Removes every session past its `expires_at` (complete or not) and its chunk blobs. */
  override deleteExpired(): Promise<number> {
    return this.chunks.deleteExpired();
  }

  override getExpiration(): number {
    return this.deps.expiryMs;
  }

  private toUpload(row: SessionRow): Upload {
    return new Upload({
      id: row.id,
      size: row.total_bytes ?? undefined,
      offset: row.received_bytes,
      metadata: row.metadata === null ? undefined : Metadata.parse(row.metadata),
      creation_date: this.creationDate(row.expires_at),
    });
  }

  /**
   * tus computes expiry as `creation_date + getExpiration()`; reporting the creation as
   * `expires_at - expiryMs` makes its check (and `Upload-Expires`) say exactly what the row says.
   */
  private creationDate(expiresAt: number): string {
    return new Date(expiresAt - this.deps.expiryMs).toISOString();
  }
}
