/**
 * Matrix identifiers, by the spec's grammar (appendices "Identifier grammar", "Server Name"): the
 * one grammar every area (rooms, client, sync) checks ids with.
 */
import { forbidden, invalidParam } from "../companion-services/platform/errors.ts";
import type { Request } from "../companion-services/platform/http/router.ts";

/** Server name grammar (spec "Server Name"): hostname, IPv4 or [IPv6], optional port. */
const SERVER_NAME = /^(\[[0-9A-Fa-f:.]{2,45}\]|[A-Za-z0-9.-]{1,255})(:\d{1,5})?$/;

function serverPart(id: string): string | null {
  const i = id.indexOf(":");
  if (i < 0) return null;
  const server = id.slice(i + 1);
  return SERVER_NAME.test(server) ? server : null;
}

/**
 * A user id `@localpart:server`. Historical localparts may hold any printable ASCII except ':',
 * so that is what is accepted; new users are created with the strict grammar by identity.
 */
export function isValidUserId(id: string): boolean {
  if (id.length > 255 || !id.startsWith("@")) return false;
  const colon = id.indexOf(":");
  if (colon < 2) return false;
  const local = id.slice(1, colon);
  if (!/^[\x21-\x39\x3b-\x7e]+$/.test(local)) return false;
  return serverPart(id) !== null;
}

export function isValidRoomId(id: string): boolean {
  if (id.length > 255 || !id.startsWith("!")) return false;
  const colon = id.indexOf(":");
  return colon >= 2 && serverPart(id) !== null;
}

export function isValidRoomAlias(id: string): boolean {
  if (id.length > 255 || !id.startsWith("#")) return false;
  const colon = id.indexOf(":");
  if (colon < 2) return false;
  const local = id.slice(1, colon);
  if (/[\s]/.test(local)) return false;
  return serverPart(id) !== null;
}

export function isValidEventId(id: string): boolean {
  return id.length > 1 && id.length <= 255 && id.startsWith("$");
}

export function parseUserId(id: string): string {
  if (!isValidUserId(id)) throw invalidParam(`Invalid user id: ${id}`);
  return id;
}

export function parseRoomId(id: string): string {
  if (!isValidRoomId(id)) throw invalidParam(`Invalid room id: ${id}`);
  return id;
}

export function parseRoomAlias(alias: string): string {
  if (!isValidRoomAlias(alias)) throw invalidParam(`Invalid room alias: ${alias}`);
  return alias;
}

export function parseEventId(id: string): string {
  if (!isValidEventId(id)) throw invalidParam(`Invalid event id: ${id}`);
  return id;
}

export function serverNameOf(id: string): string {
  return id.slice(id.indexOf(":") + 1);
}

/** The `{userId}` path parameter: 400 M_INVALID_PARAM when it does not parse. */
export function parseUserIdParam(value: string): string {
  if (!isValidUserId(value)) throw invalidParam(`${value} is not a valid user ID`);
  return value;
}

/** The `{roomId}` path parameter: 400 M_INVALID_PARAM when it does not parse. */
export function parseRoomIdParam(value: string): string {
  if (!isValidRoomId(value)) throw invalidParam(`${value} is not a valid room ID`);
  return value;
}

/** The `{userId}` path parameter must be the caller: 403 M_FORBIDDEN otherwise. */
export function requireSelf(req: Request, what: string): string {
  const userId = parseUserIdParam(req.params.userId ?? "");
  if (userId !== req.auth!.userId) throw forbidden(`Cannot ${what} for other users.`);
  return userId;
}
