import { fromZod } from "../../companion-services/platform/errors.ts";
import type { SlidingSyncPort } from "../../sync/sliding-port.ts";
import { slidingSyncBody } from "./schema.ts";
import type { SlidingSyncService } from "./service.ts";

/**
 * Sliding sync for the WebSocket's `sliding_sync` frames (sync/ws/sliding.ts): the body is
 * checked as the HTTP route checks it, so a bad one is the same 400 error, sent as an error frame.
 */
export function slidingSyncSocketPort(service: SlidingSyncService): SlidingSyncPort {
  return async ({ toDeviceAcknowledged, ...req }) => {
    const parsed = slidingSyncBody.safeParse(req.body);
    if (!parsed.success) throw fromZod(parsed.error);
    const response = await service.sync({ ...req, body: parsed.data, toDeviceAcknowledged });
    return response as Record<string, unknown> & { pos: string };
  };
}
