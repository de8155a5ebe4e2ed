import { MatrixError } from "../../platform/errors.ts";
import { type AdminRoutes, boolQuery, dirQuery, intQuery } from "../../platform/http/admin-routes.ts";
import type { Request } from "../../platform/http/router.ts";
import { MEDIA_ORDER, type MediaOrder, type Page } from "./admin.repository.ts";
import type { MediaAdmin } from "./service.ts";

/** Synapse refuses before_ts values that look like seconds: "from the year 1970". */
const MIN_BEFORE_TS = 30_000_000_000;

/**
 * Media's part of Synapse's admin API (docs/admin-api.md, "Media"), served by the media service
 * itself: on the homeserver's router under npm start, on media's own listener under
 * `nova serve media`.
 */
export function mountMediaAdminRoutes(r: AdminRoutes, admin: MediaAdmin): void {
  const param = (req: Request, name: string): string => req.params[name] ?? "";
  const media = (req: Request, withServer = true) =>
    admin.localMedia(withServer ? param(req, "serverName") : null, param(req, "mediaId"));

  r.get("/v1/users/:userId/media", async (req) => {
    const userId = await admin.localUser(param(req, "userId"));
    return { body: await admin.userMedia(userId, page(req)) };
  });
  r.delete("/v1/users/:userId/media", async (req) => {
    const userId = await admin.localUser(param(req, "userId"));
    return { body: await admin.deleteUserMedia(userId, page(req)) };
  });

  r.get("/v1/media/:serverName/:mediaId", async (req) => ({ body: await admin.info(media(req)) }));

  r.post("/v1/media/quarantine/:serverName/:mediaId", async (req, by) => {
    await admin.quarantine(media(req), by);
    return { body: {} };
  });
  r.post("/v1/media/unquarantine/:serverName/:mediaId", async (req) => {
    await admin.unquarantine(media(req));
    return { body: {} };
  });
  r.post("/v1/user/:userId/media/quarantine", async (req, by) => {
    const userId = await admin.localUser(param(req, "userId"));
    return { body: { num_quarantined: await admin.quarantineUser(userId, by) } };
  });
  r.post("/v1/media/protect/:mediaId", async (req) => {
    await admin.protect(media(req, false), true);
    return { body: {} };
  });
  r.post("/v1/media/unprotect/:mediaId", async (req) => {
    await admin.protect(media(req, false), false);
    return { body: {} };
  });

  r.delete("/v1/media/:serverName/:mediaId", async (req) => ({ body: await admin.deleteOne(media(req)) }));
  const deleteOld = async (req: Request) => {
    const raw = req.query.get("before_ts");
    if (raw === null || raw === "")
      throw new MatrixError(400, "M_MISSING_PARAM", "Missing integer query parameter 'before_ts'");
    const beforeTs = intQuery(req, "before_ts", 0);
    if (beforeTs < MIN_BEFORE_TS) {
      throw new MatrixError(
        400,
        "M_INVALID_PARAM",
        "before_ts you provided is from the year 1970. Double check that you are providing a timestamp in milliseconds.",
      );
    }
    const sizeGt = intQuery(req, "size_gt", 0);
    const keepProfiles = boolQuery(req, "keep_profiles") ?? true;
    return { body: await admin.deleteUnusedSince(beforeTs, sizeGt, keepProfiles) };
  };
  r.post("/v1/media/delete", deleteOld);
  // Deprecated since Synapse 1.78, still what older tools call.
  r.post("/v1/media/:serverName/delete", (req) => {
    admin.localServer(param(req, "serverName"));
    return deleteOld(req);
  });
}

/** from, limit, order_by and dir of Synapse's user media list (and its delete). */
function page(req: Request): Page {
  const orderBy = req.query.get("order_by") ?? "created_ts";
  if (!(orderBy in MEDIA_ORDER)) throw new MatrixError(400, "M_INVALID_PARAM", "Unknown value for order_by");
  return {
    from: intQuery(req, "from", 0),
    limit: intQuery(req, "limit", 100, 1000),
    orderBy: orderBy as MediaOrder,
    dir: dirQuery(req),
  };
}
