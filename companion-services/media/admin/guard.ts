import type { IdentityClient } from "../../identity/client.ts";
import { forbidden, MatrixError } from "../../platform/errors.ts";
import type { Handler, Request, Router } from "../../platform/http/router.ts";
import type { Logger } from "../../platform/logger.ts";
import type { MediaAuditRepository } from "./audit.repository.ts";

export const ADMIN = "/_synapse/admin";

/** A media admin handler: it runs only for a server admin, whose user id it is given. */
export type MediaAdminHandler = (req: Request, admin: string) => ReturnType<Handler>;

/**
 * Registers media's part of Synapse's admin API. Media learns whether the caller is a server
 * admin from identity (`getUser().isAdmin`, Synapse's `users.admin`): the token only says who the
 * caller is. Every call, refused ones included, is one row in media's own audit log
 * (media_admin_audit_log, the columns of the homeserver's admin_audit_log) and one pino line,
 * written before the answer leaves.
 */
export class MediaAdminRoutes {
  constructor(
    private readonly router: Router,
    private readonly identity: Pick<IdentityClient, "getUser">,
    private readonly audit: MediaAuditRepository,
    private readonly logger: Logger,
  ) {}

  get(path: string, h: MediaAdminHandler): void {
    this.add("GET", path, h);
  }
  post(path: string, h: MediaAdminHandler): void {
    this.add("POST", path, h);
  }
  delete(path: string, h: MediaAdminHandler): void {
    this.add("DELETE", path, h);
  }

  private add(method: "GET" | "POST" | "DELETE", path: string, h: MediaAdminHandler): void {
    this.router.add(method, ADMIN + path, async (req) => {
      if (!req.auth) throw new MatrixError(401, "M_MISSING_TOKEN", "Missing access token");
      const userId = req.auth.userId;
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
        this.logger.info({ admin: userId, method, path: req.path, status }, "media admin call");
        await this.audit
          .append({ userId, method, path: req.path, status, ip: req.ip || null, at: Date.now() })
          .catch((err: unknown) => this.logger.error({ err }, "media admin audit log write failed"));
      }
    });
  }
}

/** Synapse's integer query parameters: non-negative, with a default and a cap. */
export function intQuery(req: Request, name: string, dflt: number, max = Number.MAX_SAFE_INTEGER): number {
  const raw = req.query.get(name);
  if (raw === null || raw === "") return dflt;
  if (!/^\d{1,15}$/.test(raw))
    throw new MatrixError(400, "M_INVALID_PARAM", `Query parameter ${name} must be a non-negative integer`);
  return Math.min(Number(raw), max);
}

/** Synapse's boolean query parameters: "true" or "false". */
export function boolQuery(req: Request, name: string, dflt: boolean): boolean {
  const raw = req.query.get(name);
  if (raw === null || raw === "") return dflt;
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
