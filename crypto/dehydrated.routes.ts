import { z } from "zod";
import type { NovaContext } from "../server/context.ts";
import type { DehydratedDevices } from "./dehydrated.ts";
import { dehydratedDeviceBody } from "./schemas.ts";

/** MSC3814 as matrix-js-sdk calls it. */
const BASE = "/_matrix/client/unstable/org.matrix.msc3814.v1/dehydrated_device";

const eventsPostBody = z.object({ next_batch: z.string().nullable().optional() });

export function mountDehydratedRoutes(ctx: NovaContext, dehydrated: DehydratedDevices): void {
  const { router } = ctx;
  router.put(BASE, async (req) => ({
    body: await dehydrated.put(req.auth!.userId, req.json(dehydratedDeviceBody)),
  }));
  router.get(BASE, async (req) => ({ body: await dehydrated.get(req.auth!.userId) }));
  router.delete(BASE, async (req) => ({ body: await dehydrated.delete(req.auth!.userId) }));
  router.get(`${BASE}/:deviceId/events`, async (req) => ({
    body: await dehydrated.events(req.auth!.userId, req.params.deviceId!, req.query.get("from")),
  }));
  // The older draft: POST with the batch token in the body; it always answers a next_batch and
  // signals the end with an empty page.
  router.post(`${BASE}/:deviceId/events`, async (req) => {
    const from = req.json(eventsPostBody).next_batch ?? null;
    const page = await dehydrated.page(req.auth!.userId, req.params.deviceId!, from);
    return { body: { events: page.events, next_batch: page.last ?? from ?? "0" } };
  });
}
