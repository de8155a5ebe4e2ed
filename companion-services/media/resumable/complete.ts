import { createHash } from "node:crypto";
import { mxcOf } from "../ids.ts";
import type { MediaLibrary } from "../library.ts";
import type { BlobStore } from "../storage/blob-store.ts";
import type { SessionChunks } from "./chunks.ts";
import { resumableSessionsCompleted } from "./metrics.ts";
import { chunkKey, type SessionRow, type SessionsRepository } from "./sessions.repository.ts";

export type FinisherDeps = {
  sessions: SessionsRepository;
  chunks: SessionChunks;
  blobs: BlobStore;
  library: MediaLibrary;
  now?: () => number;
};

/**
 * Turns a session whose last byte has arrived into media: reads its chunks in order (checking
 * each one's size and sha256), stores the whole through `MediaLibrary.storeUpload` (the same
 * limits, quota, sniffing and events as `POST /upload`), records the media id on the session and
 * deletes the chunk blobs. Idempotent: a completed session answers its mxc URI; a failure (quota,
 * a storage error) leaves the chunks in place, so the next HEAD, GET or final PATCH retries.
 * Concurrent calls in one process share one run; across processes the first to record its media
 * id wins (the loser's row stays as an unreferenced duplicate of the same content-addressed bytes).
 */
export class UploadFinisher {
  private readonly running = new Map<string, Promise<string>>();
  private readonly now: () => number;

  constructor(private readonly deps: FinisherDeps) {
    this.now = deps.now ?? Date.now;
  }

  /** The mxc URI of a complete session (storing it the first time); null while bytes are missing. */
  async finish(row: SessionRow): Promise<string | null> {
    if (row.media_id !== null) return mxcOf(this.deps.library.serverName, row.media_id);
    if (row.total_bytes === null || row.received_bytes !== row.total_bytes) return null;
    let run = this.running.get(row.id);
    if (!run) {
      run = this.assemble(row).finally(() => this.running.delete(row.id));
      this.running.set(row.id, run);
    }
    return run;
  }

  private async assemble(row: SessionRow): Promise<string> {
    const chunks = await this.deps.sessions.chunks(row.id);
    const total = chunks.reduce((n, c) => n + c.bytes, 0);
    if (total !== row.total_bytes)
      throw new Error(`session ${row.id}: chunks hold ${total} of ${row.total_bytes} bytes`);
    const parts: Buffer[] = [];
    for (const c of chunks) {
      const bytes = await this.deps.blobs.get(chunkKey(row.id, c.part));
      if (
        !bytes ||
        bytes.length !== c.bytes ||
        createHash("sha256").update(bytes).digest("hex") !== c.sha256
      ) {
        throw new Error(`session ${row.id}: chunk ${c.part} is missing or damaged`);
      }
      parts.push(bytes);
    }
    const stored = await this.deps.library.storeUpload({
      userId: row.user_id,
      bytes: Buffer.concat(parts, total),
      contentType: row.content_type ?? undefined,
      uploadName: row.upload_name ?? undefined,
    });
    const mediaId = await this.deps.sessions.markCompleted(row.id, stored.mediaId, this.now());
    await this.deps.chunks.removeChunkBlobs(row.id);
    if (mediaId === stored.mediaId) resumableSessionsCompleted.inc();
    if (mediaId === null) return stored.mxc; // terminated meanwhile: the media exists all the same
    return mxcOf(this.deps.library.serverName, mediaId);
  }
}
