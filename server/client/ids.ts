import { forbidden, invalidParam } from "../../companion-services/platform/errors.ts";
import type { Request } from "../../companion-services/platform/http/router.ts";

const USER_ID_RE = /^@[^:]+:.+$/;
const ROOM_ID_RE = /^![^:]+:.+$/;

export function isUserId(s: string): boolean {
  return s.length <= 255 && USER_ID_RE.test(s);
}

export function isRoomId(s: string): boolean {
  return s.length <= 255 && ROOM_ID_RE.test(s);
}

/** The `{userId}` path parameter: 400 M_INVALID_PARAM when it does not parse. */
export function parseUserIdParam(value: string): string {
  if (!isUserId(value)) throw invalidParam(`${value} is not a valid user ID`);
  return value;
}

export function parseRoomIdParam(value: string): string {
  if (!isRoomId(value)) throw invalidParam(`${value} is not a valid room ID`);
  return value;
}

/** The `{userId}` path parameter must be the caller: 403 M_FORBIDDEN otherwise. */
export function requireSelf(req: Request, what: string): string {
  const userId = parseUserIdParam(req.params.userId ?? "");
  if (userId !== req.auth!.userId) throw forbidden(`Cannot ${what} for other users.`);
  return userId;
}
