import { forbidden, MatrixError } from "../errors.ts";
import type { Logger } from "../logger.ts";
import type { Handler, Request, Router } from "./router.ts";

/** Where Synapse's admin API lives; Nova serves its parts there so existing tools work. */
export const ADMIN = "/_synapse/admin";

/** A handler of the admin API: it runs only for a server admin, whose user id it is given. */
export type AdminHandler = (req: Request, admin: string) => ReturnType<Handler>;

/** One admin call as the answering service's audit log records it (never bodies). */
export type AuditEntry = {
  userId: string;
  method: string;
  path: string;
  status: number;
  ip: string | null;
  at: number;
};

/** Each service that answers admin calls keeps its own audit table behind this. */
export type AuditLog = { append(e: AuditEntry): Promise<void> };

/**
 * Registers admin API routes for one service (the homeserver's server/admin, media's
 * media/admin): each checks that the caller is a server admin (identity's `is_admin`, Synapse's
 * `users.admin`; the token only says who the caller is) and records every call, refused ones
 * included, with the status it answered: one audit row, written before the answer leaves, and
 * one pino line.
 */
export class AdminRoutes {
  constructor(
    private readonly router: Router,
    private readonly isAdmin: (userId: string) => Promise<boolean>,
    private readonly audit: AuditLog,
    private readonly logger: Logger,
  ) {}

  get(path: string, h: AdminHandler): void {
    this.add("GET", path, h);
  }
  post(path: string, h: AdminHandler): void {
    this.add("POST", path, h);
  }
  put(path: string, h: AdminHandler): void {
    this.add("PUT", path, h);
  }
  delete(path: string, h: AdminHandler): void {
    this.add("DELETE", path, h);
  }

  private add(method: "GET" | "POST" | "PUT" | "DELETE", path: string, h: AdminHandler): void {
    this.router.add(method, ADMIN + path, async (req) => {
      if (!req.auth) throw new MatrixError(401, "M_MISSING_TOKEN", "Missing access token");
      const userId = req.auth.userId;
      let status = 500;
      try {
        if (!(await this.isAdmin(userId))) throw forbidden("You are not a server admin");
        const res = await h(req, userId);
        status = res.status ?? 200;
        return res;
      } catch (err) {
        status = err instanceof MatrixError ? err.status : 500;
        throw err;
      } finally {
        this.logger.info({ admin: userId, method, path: req.path, status }, "admin call");
        await this.audit
          .append({ userId, method, path: req.path, status, ip: req.ip || null, at: Date.now() })
          .catch((err: unknown) => this.logger.error({ err }, "admin audit log write failed"));
      }
    });
  }
}

/** Synapse's paging parameters: non-negative integers, with a default and a cap. */
export function intQuery(req: Request, name: string, dflt: number, max = Number.MAX_SAFE_INTEGER): number {
  const raw = req.query.get(name);
  if (raw === null || raw === "") return dflt;
  if (!/^\d{1,15}$/.test(raw))
    throw new MatrixError(400, "M_INVALID_PARAM", `Query parameter ${name} must be a non-negative integer`);
  return Math.min(Number(raw), max);
}

/** Synapse's boolean query parameters: "true" or "false"; undefined when absent. */
export function boolQuery(req: Request, name: string): boolean | undefined {
  const raw = req.query.get(name);
  if (raw === null || raw === "") return undefined;
  if (raw !== "true" && raw !== "false")
    throw new MatrixError(400, "M_INVALID_PARAM", `Query parameter ${name} must be one of [true, false]`);
  return raw === "true";
}

export function dirQuery(req: Request): "f" | "b" {
  const raw = req.query.get("dir") ?? "f";
  if (raw !== "f" && raw !== "b")
    throw new MatrixError(400, "M_INVALID_PARAM", "Query parameter dir must be f or b");
  return raw;
}

/** Asks identity whether a user is a server admin. */
export const adminCheck =
  (identity: { getUser(userId: string): Promise<{ isAdmin: boolean } | null> }) =>
  async (userId: string): Promise<boolean> =>
    (await identity.getUser(userId))?.isAdmin ?? false;
