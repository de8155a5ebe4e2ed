import type { Kysely } from "kysely";
import type { AdminOwnTables } from "./tables.ts";

export type AuditEntry = {
  userId: string;
  method: string;
  path: string;
  status: number;
  ip: string | null;
  at: number;
};

/** The admin audit log (admin_audit_log): appended on every admin API call, read by operators. */
export class AuditRepository {
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
