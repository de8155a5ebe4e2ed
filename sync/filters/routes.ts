import { forbidden, notFound } from "../../companion-services/platform/errors.ts";
import type { Router } from "../../companion-services/platform/http/router.ts";
import { parseUserIdParam, requireSelf } from "../../server/ids.ts";
import type { Filters } from "./filters.ts";

/** POST/GET /user/{userId}/filter: clients store sync filters and name them by id on /sync. */
export function mountFilterRoutes(router: Router, filters: Filters): void {
  router.post("/_matrix/client/v3/user/:userId/filter", async (req) => {
    const userId = requireSelf(req, "create filters");
    return { body: { filter_id: await filters.create(userId, req.anyJson()) } };
  });

  router.get("/_matrix/client/v3/user/:userId/filter/:filterId", async (req) => {
    const userId = parseUserIdParam(req.params.userId!);
    if (userId !== req.auth!.userId) throw forbidden("Cannot get filters for other users.");
    const filter = await filters.stored(userId, req.params.filterId!);
    if (filter === undefined) throw notFound("No such filter.");
    return { body: filter };
  });
}
