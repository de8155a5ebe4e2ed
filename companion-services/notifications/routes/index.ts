import type { Router } from "../../platform/http/router.ts";
import type { NotificationsService } from "../service.ts";
import { mountInAppRoutes } from "./inapp.routes.ts";
import { mountMatrixRoutes } from "./matrix.routes.ts";

/**
 * Everything the notifications service serves over HTTP, all behind an access token: the same
 * routes in the homeserver's listener (npm start) and in `nova serve notifications`.
 */
export function mountNotificationsRoutes(router: Router, service: NotificationsService): void {
  mountMatrixRoutes(router, service);
  mountInAppRoutes(router, service);
}
