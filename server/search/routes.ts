import { invalidParam } from "../../companion-services/platform/errors.ts";
import { safeText } from "../../companion-services/platform/http/api.ts";
import type { Router } from "../../companion-services/platform/http/router.ts";
import type { SearchClient } from "../../companion-services/search/client.ts";
import type { NovaContext } from "../context.ts";
import type { RoomsService } from "../rooms/service.ts";
import { searchBody } from "./schema.ts";
import { MatrixSearch } from "./service.ts";

const nextBatchParam = safeText(512);

/** `POST /_matrix/client/v3/search` (and r0), answered from search's read model. */
export function mountMatrixSearch(
  ctx: NovaContext,
  router: Router,
  rooms: RoomsService,
  search: SearchClient,
): void {
  const matrix = new MatrixSearch(rooms, search, () => ctx.streams.current());
  for (const prefix of ["/_matrix/client/v3", "/_matrix/client/r0"]) {
    router.post(`${prefix}/search`, async (req) => {
      const body = req.json(searchBody);
      const raw = req.query.get("next_batch") ?? undefined;
      if (raw !== undefined && !nextBatchParam.safeParse(raw).success)
        throw invalidParam("Invalid next_batch");
      const criteria = body.search_categories.room_events;
      if (!criteria) return { body: { search_categories: {} } };
      const viewer = { userId: req.auth!.userId, deviceId: req.auth!.deviceId };
      return { body: { search_categories: { room_events: await matrix.roomEvents(viewer, criteria, raw) } } };
    });
  }
}
