import { z } from "zod";
import { fromZod, invalidParam, missingParam } from "../../platform/errors.ts";
import type { Router } from "../../platform/http/router.ts";
import type { NotificationRow } from "../notifications.repository.ts";
import type { Preferences } from "../preferences.repository.ts";
import type { NotificationsService } from "../service.ts";
import { NOTIFICATION_KINDS, type NotificationKind } from "../tables.ts";
import { cursor, flag, limit, paged, user } from "./params.ts";

const BASE = "/_nova/v1/notifications";

const readBody = z.union([
  z.object({ ids: z.array(z.string().uuid()).min(1).max(1000) }).strict(),
  z.object({ all: z.literal(true) }).strict(),
]);

const KINDS: ReadonlySet<string> = new Set(NOTIFICATION_KINDS);

/** Nova's in-app notifications: the list, marking read, and per-kind preferences. */
export function mountInAppRoutes(router: Router, service: NotificationsService): void {
  router.get(BASE, async (req) => {
    const n = limit(req, 50, 100);
    const rows = await service.notifications.inAppPage({
      userId: user(req).userId,
      before: cursor(req, "from"),
      limit: n + 1,
      unreadOnly: flag(req, "unread_only"),
    });
    const page = paged(rows, n);
    return {
      body: {
        notifications: page.items.map(inAppNotification),
        ...(page.next !== null ? { next_batch: page.next } : {}),
      },
    };
  });

  router.post(`${BASE}/read`, async (req) => {
    const r = readBody.safeParse(req.anyJson());
    if (!r.success) throw invalidParam('body must be {"ids": [uuid, …]} or {"all": true}');
    const result = await service.markRead(user(req).userId, "ids" in r.data ? r.data.ids : "all");
    return { body: { marked: result.marked } };
  });

  router.get(`${BASE}/preferences`, async (req) => ({
    body: { preferences: await service.preferences.get(user(req).userId) },
  }));

  router.put(`${BASE}/preferences`, async (req) => {
    const changes = parsePreferences(req.anyJson());
    return { body: { preferences: await service.setPreferences(user(req).userId, changes) } };
  });
}

function parsePreferences(body: unknown): Partial<Preferences> {
  const r = z.object({ preferences: z.record(z.string(), z.unknown()) }).safeParse(body);
  if (!r.success) {
    const present = typeof body === "object" && body !== null && "preferences" in body;
    throw present ? fromZod(r.error, "M_INVALID_PARAM") : missingParam("preferences is required");
  }
  const changes: Partial<Preferences> = {};
  for (const [kind, enabled] of Object.entries(r.data.preferences)) {
    if (!KINDS.has(kind)) throw invalidParam(`unknown notification kind: ${kind}`);
    if (typeof enabled !== "boolean") throw invalidParam(`preferences.${kind} must be a boolean`);
    changes[kind as NotificationKind] = enabled;
  }
  return changes;
}

function inAppNotification(row: NotificationRow): Record<string, unknown> {
  return {
    id: row.id,
    kind: row.kind,
    body: row.body,
    read: row.read_at !== null,
    created_at: row.created_at,
    ...(row.room_id !== null ? { room_id: row.room_id } : {}),
    ...(row.event_id !== null ? { event_id: row.event_id } : {}),
  };
}
