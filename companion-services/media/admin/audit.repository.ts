import type { Kysely } from "kysely";
import type { MediaTables } from "../tables.ts";

export type MediaAuditEntry = {
  userId: string;
  method: string;
  path: string;
  status: number;
  ip: string | null;
  at: number;
};

/** media_admin_audit_log: one row per media admin API call, read by operators. */
export class MediaAuditRepository {
  constructor(private readonly db: Kysely<MediaTables>) {}

  async append(e: MediaAuditEntry): Promise<void> {
    await this.db
      .insertInto("media_admin_audit_log")
      .values({ user_id: e.userId, method: e.method, path: e.path, status: e.status, ip: e.ip, at: e.at })
      .execute();
  }

  /** Newest first. */
  async recent(limit: number): Promise<MediaAuditEntry[]> {
    const rows = await this.db
      .selectFrom("media_admin_audit_log")
      .selectAll()
      .orderBy("id", "desc")
      .limit(limit)
      .execute();
    return rows.map((r) => ({
      userId: r.user_id,
      method: r.method,
      path: r.path,
      status: Number(r.status),
      ip: r.ip,
      at: Number(r.at),
    }));
  }
}
