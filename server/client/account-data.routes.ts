import { badJson, MatrixError, notFound } from "../../companion-services/platform/errors.ts";
import type { Request, Router } from "../../companion-services/platform/http/router.ts";
import { parseRoomIdParam, requireSelf } from "../ids.ts";
import { type AccountDataService, SERVER_MANAGED_TYPES } from "./account-data.ts";

function objectBody(req: Request): Record<string, unknown> {
  const body = req.anyJson();
  if (body === null || typeof body !== "object" || Array.isArray(body))
    throw badJson("Content must be a JSON object.");
  return body as Record<string, unknown>;
}

function writableType(type: string): string {
  if (type.length === 0 || type.length > 255) throw new MatrixError(400, "M_INVALID_PARAM", "Invalid type");
  if (SERVER_MANAGED_TYPES.has(type))
    throw new MatrixError(405, "M_BAD_JSON", `Cannot set ${type} through this API.`);
  return type;
}

/** Mounts global and per-room account data (spec §"Client Config"). */
export function mountAccountDataRoutes(router: Router, accountData: AccountDataService): void {
  const base = "/_matrix/client/v3/user/:userId";

  router.put(`${base}/account_data/:type`, async (req) => {
    const userId = requireSelf(req, "add account data");
    const type = writableType(req.params.type!);
    await accountData.set(userId, null, type, objectBody(req));
    return { body: {} };
  });

  router.get(`${base}/account_data/:type`, async (req) => {
    const userId = requireSelf(req, "get account data");
    const content = await accountData.get(userId, null, req.params.type!);
    if (content === undefined) throw notFound("Account data not found.");
    return { body: content };
  });

  router.put(`${base}/rooms/:roomId/account_data/:type`, async (req) => {
    const userId = requireSelf(req, "add account data");
    const roomId = parseRoomIdParam(req.params.roomId!);
    const type = writableType(req.params.type!);
    await accountData.set(userId, roomId, type, objectBody(req));
    return { body: {} };
  });

  router.get(`${base}/rooms/:roomId/account_data/:type`, async (req) => {
    const userId = requireSelf(req, "get account data");
    const roomId = parseRoomIdParam(req.params.roomId!);
    const content = await accountData.get(userId, roomId, req.params.type!);
    if (content === undefined) throw notFound("Room account data not found.");
    return { body: content };
  });
}
