import type { AdminRoutes } from "../../companion-services/platform/http/admin-routes.ts";

/**
 * Synapse's background updates status. Nova has none: every service runs its migrations to the
 * end before it listens, so nothing is ever left running in the background. Said as it is.
 */
export function mountStatusRoutes(r: AdminRoutes): void {
  r.get("/v1/background_updates/status", () => ({ body: { enabled: true, current_updates: {} } }));
  r.get("/v1/background_updates/enabled", () => ({ body: { enabled: true } }));
}
