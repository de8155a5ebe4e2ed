import { invalidParam } from "../../platform/errors.ts";
import type { Router } from "../../platform/http/router.ts";
import type { NotificationRow } from "../notifications.repository.ts";
import { parsePusherSet } from "../pushers.ts";
import type { NotificationsService } from "../service.ts";
import { cursor, limit, paged, user } from "./params.ts";

const CS = "/_matrix/client/v3";

/** The Matrix push APIs (client-server "Push notifications"): pushers and `/notifications`. */
export function mountMatrixRoutes(router: Router, service: NotificationsService): void {
  router.get(`${CS}/pushers`, async (req) => ({
    body: { pushers: await service.pushers.list(user(req).userId) },
  }));

  router.post(`${CS}/pushers/set`, async (req) => {
    const { userId, deviceId } = user(req);
    await service.pushers.set(userId, deviceId, parsePusherSet(req.anyJson()));
    return { body: {} };
  });

  router.get(`${CS}/notifications`, async (req) => {
    const only = req.query.get("only");
    if (only !== null && only !== "" && only !== "highlight") throw invalidParam("only must be highlight");
    const n = limit(req, 50, 500);
    const rows = await service.notifications.matrixPage({
      userId: user(req).userId,
      before: cursor(req, "from"),
      limit: n + 1,
      onlyHighlight: only === "highlight",
    });
    const page = paged(rows, n);
    return {
      body: {
        notifications: page.items.map(matrixNotification),
        ...(page.next !== null ? { next_token: page.next } : {}),
      },
    };
  });
}

function matrixNotification(row: NotificationRow): Record<string, unknown> {
  return {
    actions: row.actions ?? [],
    event: clientEvent(row.body),
    // Always present (null without one): clients and the reference suite look for the key.
    profile_tag: null,
    read: row.read_at !== null,
    room_id: row.room_id,
    ts: row.created_at,
  };
}

/** The stored RoomEventBody in client format (display and room names are push-only). */
function clientEvent(b: Record<string, unknown>): Record<string, unknown> {
  return {
    content: b.content ?? {},
    event_id: b.event_id,
    origin_server_ts: b.origin_server_ts,
    room_id: b.room_id,
    sender: b.sender,
    type: b.type,
    ...(typeof b.state_key === "string" ? { state_key: b.state_key } : {}),
    unsigned: {},
  };
}
