import type { Kysely } from "kysely";
import type { AuditEntry, AuditLog } from "../../companion-services/platform/http/admin-routes.ts";
import type { AdminOwnTables } from "./tables.ts";

/** The admin audit log (admin_audit_log): appended on every admin API call, read by operators. */
export class AuditRepository implements AuditLog {
  constructor(private readonly db: Kysely<AdminOwnTables>) {}

  async append(e: AuditEntry): Promise<void> {
    await this.db
      .insertInto("admin_audit_log")
      .values({ user_id: e.userId, method: e.method, path: e.path, status: e.status, ip: e.ip, at: e.at })
      .execute();
  }

  /** Newest first. */
  async recent(limit: number): Promise<AuditEntry[]> {
    const rows = await this.db
      .selectFrom("admin_audit_log")
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
