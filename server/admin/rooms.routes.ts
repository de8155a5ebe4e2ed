import { z } from "zod";
import { invalidParam } from "../../companion-services/platform/errors.ts";
import { type AdminRoutes, dirQuery, intQuery } from "../../companion-services/platform/http/admin-routes.ts";
import { parseRoomIdParam, parseUserId } from "../ids.ts";
import type { RoomsService } from "../rooms/service.ts";
import { ROOM_ORDER, type RoomOrder, type RoomSummaryRow } from "./rooms.repository.ts";
import type { AdminRooms, ShutdownOptions } from "./rooms.service.ts";

const deleteBody = z.object({
  new_room_user_id: z.string().optional(),
  room_name: z.string().max(256).optional(),
  message: z.string().max(4096).optional(),
  block: z.boolean().optional(),
  purge: z.boolean().optional(),
  force_purge: z.boolean().optional(),
});
const makeAdminBody = z.object({ user_id: z.string().optional() });
const blockBody = z.object({ block: z.boolean() });

function listed(r: RoomSummaryRow) {
  const { topic: _t, avatar: _a, ...rest } = r;
  return rest;
}

/** The rooms area of Synapse's admin API (docs/admin-api.md, "Rooms"). */
export function mountAdminRoomRoutes(r: AdminRoutes, admin: AdminRooms, rooms: RoomsService): void {
  const roomParam = (raw: string) => parseRoomIdParam(raw);

  r.get("/v1/rooms", async (req) => {
    const from = intQuery(req, "from", 0);
    const limit = intQuery(req, "limit", 100, 1000);
    const orderBy = req.query.get("order_by") ?? "name";
    if (!(ROOM_ORDER as readonly string[]).includes(orderBy))
      throw invalidParam(`order_by must be one of ${ROOM_ORDER.join(", ")}`);
    const { rooms: list, total } = await admin.repo.list({
      from,
      limit,
      orderBy: orderBy as RoomOrder,
      dir: dirQuery(req),
      search: req.query.get("search_term") || undefined,
    });
    const body: Record<string, unknown> = { rooms: list.map(listed), offset: from, total_rooms: total };
    if (from + list.length < total) body.next_batch = from + list.length;
    if (from > 0) body.prev_batch = Math.max(0, from - limit);
    return { body };
  });

  r.get("/v1/rooms/:roomId", async (req) => {
    const room = await admin.get(roomParam(req.params.roomId!));
    return { body: { ...room, joined_local_devices: null, forgotten: false } };
  });

  r.get("/v1/rooms/:roomId/members", async (req) => {
    const room = await admin.get(roomParam(req.params.roomId!));
    const members = await rooms.joinedMembers(room.room_id);
    return { body: { members, total: members.length } };
  });

  r.get("/v1/rooms/:roomId/state", async (req) => {
    const room = await admin.get(roomParam(req.params.roomId!));
    return { body: { state: await rooms.stateEvents(room.room_id, null, null) } };
  });

  const shutdownOptions = (b: z.infer<typeof deleteBody>): ShutdownOptions => ({
    newRoomUserId: b.new_room_user_id === undefined ? undefined : parseUserId(b.new_room_user_id),
    roomName: b.room_name,
    message: b.message,
    block: b.block ?? false,
    purge: b.purge ?? true,
    forcePurge: b.force_purge ?? false,
  });
  r.delete("/v1/rooms/:roomId", async (req, caller) => {
    const roomId = roomParam(req.params.roomId!);
    return { body: await admin.shutdown(roomId, caller, shutdownOptions(req.json(deleteBody))) };
  });
  r.delete("/v2/rooms/:roomId", async (req, caller) => {
    const roomId = roomParam(req.params.roomId!);
    return {
      body: { delete_id: admin.startShutdown(roomId, caller, shutdownOptions(req.json(deleteBody))) },
    };
  });
  r.get("/v2/rooms/:roomId/delete_status", async (req) => ({
    body: { results: admin.deleteStatusesOf(roomParam(req.params.roomId!)) },
  }));
  r.get("/v2/rooms/delete_status/:deleteId", async (req) => ({
    body: admin.deleteStatus(req.params.deleteId!),
  }));

  r.post("/v1/rooms/:roomId/make_room_admin", async (req, caller) => {
    const target = req.json(makeAdminBody).user_id;
    const roomId = await rooms.resolveRoom(req.params.roomId!);
    await admin.makeRoomAdmin(roomId, target === undefined ? caller : parseUserId(target));
    return { body: {} };
  });

  r.get("/v1/rooms/:roomId/block", async (req) => {
    const by = await admin.repo.blockedBy(roomParam(req.params.roomId!));
    return { body: by ? { block: true, user_id: by } : { block: false } };
  });
  r.put("/v1/rooms/:roomId/block", async (req, caller) => {
    const { block } = req.json(blockBody);
    await admin.setBlocked(roomParam(req.params.roomId!), caller, block);
    return { body: { block } };
  });
}
