import type { IdentityClient } from "../../companion-services/identity/client.ts";
import { forbidden, MatrixError } from "../../companion-services/platform/errors.ts";
import type { Handler, Request, Router } from "../../companion-services/platform/http/router.ts";
import type { Logger } from "../../companion-services/platform/logger.ts";
import type { AuditRepository } from "./audit.repository.ts";

export const ADMIN = "/_synapse/admin";

/** A handler of the admin API: it runs only for a server admin, whose user id it is given. */
export type AdminHandler = (req: Request, admin: string) => ReturnType<Handler>;

/**
 * Registers admin API routes: each checks that the caller is a server admin (identity's
 * `is_admin`, as Synapse's `users.admin`) and appends one audit row per call, refused calls
 * included, with the status it answered. The audit row is written before the answer leaves.
 */
export class AdminRoutes {
  constructor(
    private readonly router: Router,
    private readonly identity: Pick<IdentityClient, "getUser">,
    private readonly audit: AuditRepository,
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
      const userId = req.auth!.userId;
      let status = 500;
      try {
        if (!(await this.identity.getUser(userId))?.isAdmin) throw forbidden("You are not a server admin");
        const res = await h(req, userId);
        status = res.status ?? 200;
        return res;
      } catch (err) {
        status = err instanceof MatrixError ? err.status : 500;
        throw err;
      } finally {
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

/** Synapse's boolean query parameters: "true" or "false". */
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
