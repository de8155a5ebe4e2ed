import type { Kysely } from "kysely";
import type { AuditEntry, AuditLog } from "../../platform/http/admin-routes.ts";
import type { MediaTables } from "../tables.ts";

/** media_admin_audit_log: one row per media admin API call, read by operators. */
export class MediaAuditRepository implements AuditLog {
  constructor(private readonly db: Kysely<MediaTables>) {}

  async append(e: AuditEntry): Promise<void> {
    await this.db
      .insertInto("media_admin_audit_log")
      .values({ user_id: e.userId, method: e.method, path: e.path, status: e.status, ip: e.ip, at: e.at })
      .execute();
  }

  /** Newest first. */
  async recent(limit: number): Promise<AuditEntry[]> {
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
