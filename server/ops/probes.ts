import type { IdentityClient } from "../../companion-services/identity/client.ts";
import { MatrixError } from "../../companion-services/platform/errors.ts";
import {
  type OpsListener,
  type ReadinessCheck,
  startOpsListener,
} from "../../companion-services/platform/http/ops-listener.ts";
import type { Router } from "../../companion-services/platform/http/router.ts";
import type { Logger } from "../../companion-services/platform/logger.ts";
import { registry } from "../../companion-services/platform/metrics.ts";
import type { OperationsConfig } from "../operations-config.ts";

/**
 * The probes on a client listener: `/health` (the process answers) and `/ready` (it takes
 * traffic: databases answer, not shutting down) for load balancers, public and saying no more
 * than that; the reasons are on the admin listener. `/metrics` needs a server admin's access
 * token here (Prometheus' `authorization` scrape setting), unless `identity` is null (a service
 * that cannot tell admins apart), which serves it only on the admin listener.
 */
export function mountProbes(router: Router, ready: ReadinessCheck, identity: IdentityClient | null): void {
  router.get("/health", () => ({ body: { status: "ok" } }), { auth: "none" });
  router.get(
    "/ready",
    async () => ((await ready()).length === 0 ? { body: { status: "ready" } } : notReady()),
    { auth: "none" },
  );
  if (!identity) return;
  router.get("/metrics", async (req) => {
    if (!(await identity.getUser(req.auth!.userId))?.isAdmin)
      throw new MatrixError(403, "M_FORBIDDEN", "Metrics are for server admins (or use NOVA_ADMIN_PORT)");
    return { raw: Buffer.from(await registry.metrics()), headers: { "Content-Type": registry.contentType } };
  });
}

const notReady = () => ({ status: 503, body: { status: "not ready" } });

/** Starts the admin listener when NOVA_ADMIN_PORT is set (docs/monitoring.md). */
export async function startAdminListener(
  config: Pick<OperationsConfig, "adminListener">,
  service: string,
  logger: Logger,
  ready: ReadinessCheck,
): Promise<OpsListener | null> {
  if (!config.adminListener) return null;
  return startOpsListener({ ...config.adminListener, service, logger, ready });
}
