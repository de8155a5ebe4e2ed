import type { Kysely } from "kysely";
import type { z } from "zod";
import { MatrixError, notFound } from "../companion-services/platform/errors.ts";
import { type BackedUpSession, BackupRepository, type BackupVersion } from "./backup.repository.ts";
import type { keyBackupDataSchema } from "./schemas.ts";
import type { BackupAuthData, CryptoTables, JsonObject } from "./tables.ts";

type KeyBackupData = z.infer<typeof keyBackupDataSchema>;

/**
 * Server-side key backup (/room_keys). Versions and sessions are opaque client-encrypted data; the
 * server keeps only what it needs to choose between two copies of a session (spec order:
 * is_verified, then lower first_message_index, then lower forwarded_count) and the etag/count.
 * No /sync stream shows backups, so writes use plain transactions, serialised per user by a lock
 * on the user's versions.
 */
export class KeyBackup {
  readonly repo: BackupRepository;

  constructor(private readonly db: Kysely<CryptoTables>) {
    this.repo = new BackupRepository(db);
  }

  static parseVersion(v: string | null | undefined): number | null {
    if (!v || !/^\d{1,15}$/.test(v)) return null;
    return Number(v);
  }

  async createVersion(userId: string, algorithm: string, authData: BackupAuthData): Promise<string> {
    return String(
      await this.db.transaction().execute((trx) => this.repo.create(trx, userId, algorithm, authData)),
    );
  }

  /** A version's info; `version` null means the current one. 404 M_NOT_FOUND when absent or deleted. */
  async info(userId: string, version: string | null): Promise<JsonObject> {
    let v: BackupVersion | null;
    if (version === null) {
      v = await this.repo.current(userId);
    } else {
      const n = KeyBackup.parseVersion(version);
      v = n === null ? null : await this.repo.get(userId, n);
    }
    if (!v || v.deleted)
      throw notFound(version === null ? "No current backup version" : "Unknown backup version");
    return {
      algorithm: v.algorithm,
      auth_data: v.authData,
      count: await this.repo.count(userId, v.version),
      etag: String(v.etag),
      version: String(v.version),
    };
  }

  async updateVersion(
    userId: string,
    version: string,
    body: { algorithm: string; auth_data: BackupAuthData; version?: string },
  ) {
    const n = KeyBackup.parseVersion(version);
    if (body.version !== undefined && body.version !== version) {
      throw new MatrixError(400, "M_INVALID_PARAM", "version in body does not match the path");
    }
    const v = n === null ? null : await this.repo.get(userId, n);
    if (!v || v.deleted) throw notFound("Unknown backup version");
    if (v.algorithm !== body.algorithm)
      throw new MatrixError(400, "M_INVALID_PARAM", "algorithm cannot be changed");
    await this.repo.updateAuthData(this.db, userId, v.version, body.auth_data);
  }

  /** Deletes a version and all its keys; deleting it again is fine, one never created is 404. */
  async deleteVersion(userId: string, version: string): Promise<void> {
    const n = KeyBackup.parseVersion(version);
    const v = n === null ? null : await this.repo.get(userId, n);
    if (!v) throw notFound("Unknown backup version");
    if (v.deleted) return;
    await this.db.transaction().execute((trx) => this.repo.markDeleted(trx, userId, v.version));
  }

  /** Any existing (not deleted) version may be read. */
  private async readable(userId: string, version: string | null): Promise<number> {
    const n = KeyBackup.parseVersion(version);
    const v = n === null ? null : await this.repo.get(userId, n);
    if (!v || v.deleted) throw notFound("Unknown backup version");
    return v.version;
  }

  /**
   * Only the current version takes uploads: another existing version is 403
   * M_WRONG_ROOM_KEYS_VERSION with the current one, an unknown version 404.
   */
  private async writable(trx: Kysely<CryptoTables>, userId: string, version: string | null): Promise<number> {
    await this.repo.lockVersions(trx, userId);
    const current = await this.repo.current(userId, trx);
    const n = KeyBackup.parseVersion(version);
    if (current && n === current.version) return n;
    const v = n === null ? null : await this.repo.get(userId, n, trx);
    if (!v || v.deleted || !current) throw notFound("Unknown backup version");
    throw new MatrixError(403, "M_WRONG_ROOM_KEYS_VERSION", "Wrong backup version", {
      current_version: String(current.version),
    });
  }

  async put(
    userId: string,
    version: string | null,
    rooms: Record<string, Record<string, KeyBackupData>>,
  ): Promise<{ etag: string; count: number }> {
    const incoming: BackedUpSession[] = [];
    for (const [roomId, sessions] of Object.entries(rooms)) {
      for (const [sessionId, d] of Object.entries(sessions)) {
        incoming.push({
          roomId,
          sessionId,
          firstMessageIndex: d.first_message_index,
          forwardedCount: d.forwarded_count,
          isVerified: d.is_verified,
          sessionData: d.session_data,
        });
      }
    }
    return this.db.transaction().execute(async (trx) => {
      const v = await this.writable(trx, userId, version);
      const stored = await this.repo.sessionsFor(trx, userId, v, incoming);
      const byKey = new Map(stored.map((s) => [`${s.roomId}\u0000${s.sessionId}`, s]));
      const winners = new Map<string, BackedUpSession>();
      for (const s of incoming) {
        const k = `${s.roomId}\u0000${s.sessionId}`;
        const old = winners.get(k) ?? byKey.get(k);
        if (!old || better(s, old)) winners.set(k, s);
      }
      if (winners.size > 0) {
        await this.repo.upsertSessions(trx, userId, v, [...winners.values()]);
        await this.repo.bumpEtag(trx, userId, v);
      }
      return this.etagAndCount(trx, userId, v);
    });
  }

  async get(userId: string, version: string | null, roomId?: string, sessionId?: string) {
    const v = await this.readable(userId, version);
    return this.repo.list(userId, v, roomId, sessionId);
  }

  async delete(userId: string, version: string | null, roomId?: string, sessionId?: string) {
    return this.db.transaction().execute(async (trx) => {
      await this.repo.lockVersions(trx, userId);
      const n = KeyBackup.parseVersion(version);
      const v = n === null ? null : await this.repo.get(userId, n, trx);
      if (!v || v.deleted) throw notFound("Unknown backup version");
      if ((await this.repo.deleteSessions(trx, userId, v.version, roomId, sessionId)) > 0) {
        await this.repo.bumpEtag(trx, userId, v.version);
      }
      return this.etagAndCount(trx, userId, v.version);
    });
  }

  private async etagAndCount(db: Kysely<CryptoTables>, userId: string, version: number) {
    const v = await this.repo.get(userId, version, db);
    return { etag: String(v?.etag ?? 0), count: await this.repo.count(userId, version, db) };
  }
}

/** Whether `a` should replace `b` in a backup (spec: verified, then lower index, then fewer forwards). */
export function better(a: BackedUpSession, b: BackedUpSession): boolean {
  if (a.isVerified !== b.isVerified) return a.isVerified;
  if (a.firstMessageIndex !== b.firstMessageIndex) return a.firstMessageIndex < b.firstMessageIndex;
  return a.forwardedCount < b.forwardedCount;
}

export function toKeyBackupData(s: BackedUpSession): JsonObject {
  return {
    first_message_index: s.firstMessageIndex,
    forwarded_count: s.forwardedCount,
    is_verified: s.isVerified,
    session_data: s.sessionData,
  };
}
