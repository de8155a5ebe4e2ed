import { z } from "zod";
import { forbidden, invalidParam, notFound } from "../../companion-services/platform/errors.ts";
import type { NovaContext } from "../context.ts";
import { parseRoomIdParam, requireSelf } from "../ids.ts";
import type { ReadMarkers, ReceiptsService } from "./receipts.ts";
import type { ClientRooms } from "./rooms-port.ts";
import type { TypingService } from "./typing.ts";

const DEFAULT_TYPING_TIMEOUT_MS = 30_000;

const typingBody = z.object({
  typing: z.boolean(),
  timeout: z.number().int().min(0).optional(),
});
const receiptBody = z.object({ thread_id: z.string().min(1).max(255).optional() });
const eventId = z.string().min(1).max(255);
const readMarkersBody = z.object({
  "m.fully_read": eventId.optional(),
  "m.read": eventId.optional(),
  "m.read.private": eventId.optional(),
});

const RECEIPT_TYPES = new Set(["m.read", "m.read.private", "m.fully_read"]);

/** Typing notifications, read receipts and read markers (spec §"Typing", §"Receipts", §"Read markers"). */
export function mountEphemeralRoutes(
  ctx: NovaContext,
  rooms: ClientRooms,
  typing: TypingService,
  receipts: ReceiptsService,
): void {
  const { router } = ctx;

  const requireJoined = async (roomId: string, userId: string) => {
    if ((await rooms.membership(roomId, userId)) !== "join")
      throw forbidden("You are not joined to this room.");
  };
  const requireEvent = async (roomId: string, id: string) => {
    if (!(await rooms.eventInRoom(roomId, id))) throw notFound(`Event ${id} not found in room`);
  };

  router.put("/_matrix/client/v3/rooms/:roomId/typing/:userId", async (req) => {
    const roomId = parseRoomIdParam(req.params.roomId!);
    const userId = requireSelf(req, "set typing state");
    const body = req.json(typingBody);
    await requireJoined(roomId, userId);
    typing.set(roomId, userId, body.typing, body.timeout ?? DEFAULT_TYPING_TIMEOUT_MS);
    return { body: {} };
  });

  router.post("/_matrix/client/v3/rooms/:roomId/receipt/:receiptType/:eventId", async (req) => {
    const roomId = parseRoomIdParam(req.params.roomId!);
    const type = req.params.receiptType!;
    if (!RECEIPT_TYPES.has(type)) throw invalidParam(`Unknown receipt type ${type}`);
    const body = req.json(receiptBody);
    if (type === "m.fully_read" && body.thread_id !== undefined)
      throw invalidParam("m.fully_read does not take a thread_id");
    const userId = req.auth!.userId;
    const id = req.params.eventId!;
    await requireJoined(roomId, userId);
    await requireEvent(roomId, id);
    const markers: ReadMarkers =
      type === "m.fully_read"
        ? { fullyRead: id, receipts: [] }
        : {
            receipts: [{ type: type as "m.read" | "m.read.private", eventId: id, threadId: body.thread_id }],
          };
    await receipts.mark(roomId, userId, markers);
    return { body: {} };
  });

  router.post("/_matrix/client/v3/rooms/:roomId/read_markers", async (req) => {
    const roomId = parseRoomIdParam(req.params.roomId!);
    const body = req.json(readMarkersBody);
    const userId = req.auth!.userId;
    await requireJoined(roomId, userId);
    const markers: ReadMarkers = { fullyRead: body["m.fully_read"], receipts: [] };
    if (body["m.read"]) markers.receipts.push({ type: "m.read", eventId: body["m.read"] });
    if (body["m.read.private"])
      markers.receipts.push({ type: "m.read.private", eventId: body["m.read.private"] });
    const ids = new Set([markers.fullyRead, ...markers.receipts.map((r) => r.eventId)]);
    for (const id of ids) if (id) await requireEvent(roomId, id);
    await receipts.mark(roomId, userId, markers);
    return { body: {} };
  });
}
