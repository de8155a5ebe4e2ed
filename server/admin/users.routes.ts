import { z } from "zod";
import { USER_ORDER } from "../../companion-services/identity/admin-client.ts";
import type { IdentityClient } from "../../companion-services/identity/client.ts";
import { invalidParam, notFound } from "../../companion-services/platform/errors.ts";
import {
  type AdminRoutes,
  boolQuery,
  dirQuery,
  intQuery,
} from "../../companion-services/platform/http/admin-routes.ts";
import { parseUserIdParam } from "../ids.ts";
import type { RoomsApi } from "../rooms/service.ts";
import { deviceInfo } from "../routes/whois.routes.ts";
import { type AdminUsers, userJson } from "./users.service.ts";

const upsertBody = z.object({
  password: z.string().min(1).max(512).optional(),
  logout_devices: z.boolean().optional(),
  displayname: z.string().max(256).nullable().optional(),
  avatar_url: z.string().max(1024).nullable().optional(),
  admin: z.boolean().optional(),
  deactivated: z.boolean().optional(),
  // 3PIDs are bound by their owners (a validated email); an empty list is accepted, others refused.
  threepids: z.array(z.unknown()).max(0, "Nova does not set third-party identifiers here").optional(),
  external_ids: z.array(z.unknown()).max(0, "Nova does not store external ids").optional(),
  user_type: z.null().optional(),
  locked: z.literal(false).optional(),
});
const deactivateBody = z.object({ erase: z.boolean().optional() });
const resetBody = z.object({
  new_password: z.string().min(1).max(512),
  logout_devices: z.boolean().optional(),
});
const adminBody = z.object({ admin: z.boolean() });
const deleteDevicesBody = z.object({ devices: z.array(z.string().min(1).max(255)).max(1000) });

/** The users area of Synapse's admin API (docs/admin-api.md, "Users"). */
export function mountAdminUserRoutes(
  r: AdminRoutes,
  users: AdminUsers,
  identity: IdentityClient,
  rooms: Pick<RoomsApi, "joinedRoomIds">,
): void {
  const userParam = (raw: string) => users.local(parseUserIdParam(raw));

  r.get("/v2/users", async (req) => {
    const from = intQuery(req, "from", 0);
    const limit = intQuery(req, "limit", 100, 1000);
    const orderBy = req.query.get("order_by") ?? "name";
    if (!(USER_ORDER as readonly string[]).includes(orderBy))
      throw invalidParam(`order_by must be one of ${USER_ORDER.join(", ")}`);
    const { users: list, total } = await users.list({
      from,
      limit,
      userId: req.query.get("user_id") ?? undefined,
      name: req.query.get("name") ?? undefined,
      guests: boolQuery(req, "guests") ?? true,
      deactivated: boolQuery(req, "deactivated") ?? false,
      admins: boolQuery(req, "admins"),
      orderBy: orderBy as (typeof USER_ORDER)[number],
      dir: dirQuery(req),
    });
    const body: Record<string, unknown> = { users: list.map((u) => userJson(u)), total };
    if (from + list.length < total) body.next_token = String(from + list.length);
    return { body };
  });

  r.get("/v2/users/:userId", async (req) => {
    const u = await users.get(userParam(req.params.userId!));
    return { body: userJson(u, await users.lastSeen(u.userId), await users.threepids(u.userId)) };
  });

  r.put("/v2/users/:userId", async (req) => {
    const userId = userParam(req.params.userId!);
    const b = req.json(upsertBody);
    const created = await users.upsert(userId, {
      password: b.password,
      logoutDevices: b.logout_devices ?? true,
      displayname: b.displayname,
      avatarUrl: b.avatar_url,
      admin: b.admin,
      deactivated: b.deactivated,
    });
    const u = await users.get(userId);
    return {
      status: created ? 201 : 200,
      body: userJson(u, await users.lastSeen(userId), await users.threepids(userId)),
    };
  });

  r.post("/v1/deactivate/:userId", async (req) => {
    const body = req.json(deactivateBody);
    await users.deactivate(userParam(req.params.userId!), body.erase ?? false);
    return { body: { id_server_unbind_result: "success" } };
  });

  r.post("/v1/reset_password/:userId", async (req) => {
    const body = req.json(resetBody);
    await users.resetPassword(userParam(req.params.userId!), body.new_password, body.logout_devices ?? true);
    return { body: {} };
  });

  r.get("/v1/whois/:userId", async (req) => {
    const u = await users.get(userParam(req.params.userId!));
    const devices: Record<string, ReturnType<typeof deviceInfo>> = {};
    for (const d of await identity.listDevices(u.userId)) devices[d.deviceId] = deviceInfo(d);
    return { body: { user_id: u.userId, devices } };
  });

  r.get("/v1/users/:userId/joined_rooms", async (req) => {
    const u = await users.get(userParam(req.params.userId!));
    const joined = await rooms.joinedRoomIds(u.userId);
    return { body: { joined_rooms: joined, total: joined.length } };
  });

  const deviceJson = (userId: string, d: Awaited<ReturnType<IdentityClient["listDevices"]>>[number]) => ({
    device_id: d.deviceId,
    display_name: d.displayName,
    last_seen_ip: d.lastSeenIp,
    last_seen_ts: d.lastSeenTs,
    last_seen_user_agent: null,
    user_id: userId,
  });
  r.get("/v2/users/:userId/devices", async (req) => {
    const u = await users.get(userParam(req.params.userId!));
    const devices = (await identity.listDevices(u.userId)).map((d) => deviceJson(u.userId, d));
    return { body: { devices, total: devices.length } };
  });
  r.get("/v2/users/:userId/devices/:deviceId", async (req) => {
    const u = await users.get(userParam(req.params.userId!));
    const d = await identity.getDevice(u.userId, req.params.deviceId!);
    if (!d) throw notFound("No device found");
    return { body: deviceJson(u.userId, d) };
  });
  // Synapse answers 200 for a device that does not exist: the outcome (no such device) holds.
  r.delete("/v2/users/:userId/devices/:deviceId", async (req) => {
    const u = await users.get(userParam(req.params.userId!));
    await identity.revokeDevice(u.userId, req.params.deviceId!);
    return { body: {} };
  });
  r.post("/v2/users/:userId/delete_devices", async (req) => {
    const u = await users.get(userParam(req.params.userId!));
    for (const id of req.json(deleteDevicesBody).devices) await identity.revokeDevice(u.userId, id);
    return { body: {} };
  });

  r.get("/v1/users/:userId/admin", async (req) => {
    const u = await users.get(userParam(req.params.userId!));
    return { body: { admin: u.isAdmin } };
  });
  r.put("/v1/users/:userId/admin", async (req, caller) => {
    await users.setAdmin(caller, userParam(req.params.userId!), req.json(adminBody).admin);
    return { body: {} };
  });

  r.post("/v1/users/:userId/shadow_ban", async (req) => {
    await users.setShadowBanned(userParam(req.params.userId!), true);
    return { body: {} };
  });
  r.delete("/v1/users/:userId/shadow_ban", async (req) => {
    await users.setShadowBanned(userParam(req.params.userId!), false);
    return { body: {} };
  });
}
