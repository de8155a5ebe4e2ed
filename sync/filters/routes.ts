import { forbidden, notFound } from "../../companion-services/platform/errors.ts";
import type { Router } from "../../companion-services/platform/http/router.ts";
import { parseUserIdParam, requireSelf } from "../../server/ids.ts";
import { canonicalJson, parseFilter } from "../filter.ts";
import { type FiltersRepository, parseFilterId } from "./filters.repository.ts";

/** POST/GET /user/{userId}/filter: clients store sync filters and name them by id on /sync. */
export function mountFilterRoutes(router: Router, filters: FiltersRepository): void {
  router.post("/_matrix/client/v3/user/:userId/filter", async (req) => {
    const userId = requireSelf(req, "create filters");
    const filter = parseFilter(req.anyJson());
    const id = await filters.create(userId, filter, canonicalJson(filter));
    return { body: { filter_id: String(id) } };
  });

  router.get("/_matrix/client/v3/user/:userId/filter/:filterId", async (req) => {
    const userId = parseUserIdParam(req.params.userId!);
    if (userId !== req.auth!.userId) throw forbidden("Cannot get filters for other users.");
    const id = parseFilterId(req.params.filterId!);
    const filter = id === null ? undefined : await filters.get(userId, id);
    if (filter === undefined) throw notFound("No such filter.");
    return { body: filter };
  });
}
