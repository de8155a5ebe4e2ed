import type { Logger } from "../../platform/logger.ts";
import type { BlobStore } from "../storage/blob-store.ts";
import { resumableSessionsExpired } from "./metrics.ts";
import { chunkPrefix, type SessionsRepository } from "./sessions.repository.ts";

export type SessionChunksDeps = {
  sessions: SessionsRepository;
  blobs: BlobStore;
  logger: Logger;
  now?: () => number;
};

/**
 * The sessions' chunk blobs outside tus: the expiry sweep and the finisher's clean-up. Kept apart
 * from SessionStore (a @tus/server DataStore) so that a server loads @tus/server only with the
 * first upload request, not to sweep or to finish.
 */
export class SessionChunks {
  private readonly now: () => number;

  constructor(private readonly deps: SessionChunksDeps) {
    this.now = deps.now ?? Date.now;
  }

  /** Removes every session past its `expires_at` (complete or not) and its chunk blobs. */
  async deleteExpired(): Promise<number> {
    let removed = 0;
    for (;;) {
      const ids = await this.deps.sessions.expired(this.now(), 100);
      if (ids.length === 0) return removed;
      for (const id of ids) {
        if (await this.deps.sessions.remove(id)) {
          removed++;
          resumableSessionsExpired.inc();
        }
        await this.removeChunkBlobs(id);
      }
    }
  }

  /** Deletes a session's chunk blobs; failures are logged (the rows are already gone). */
  async removeChunkBlobs(id: string): Promise<void> {
    try {
      for (const key of await this.deps.blobs.list(chunkPrefix(id))) await this.deps.blobs.delete(key);
    } catch (err) {
      this.deps.logger.warn({ err, session: id }, "could not delete a resumable upload's chunk blobs");
    }
  }
}
