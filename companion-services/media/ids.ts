import { randomBytes } from "node:crypto";
import { invalidParam, notFound } from "../platform/errors.ts";

/** The spec's media id alphabet; ids we mint are 24 of these (as Synapse's). */
const MEDIA_ID = /^[A-Za-z0-9_-]{1,255}$/;
const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/** hostname | IPv4 | [IPv6], optional :port (the spec's server-name grammar). */
const SERVER_NAME =
  /^(?:\[[0-9A-Fa-f:.]{2,45}\]|[0-9]{1,3}(?:\.[0-9]{1,3}){3}|[A-Za-z0-9](?:[A-Za-z0-9-]{0,62})(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}))*)(?::[0-9]{1,5})?$/;

export function newMediaId(): string {
  const bytes = randomBytes(24);
  let out = "";
  for (const b of bytes) out += ALPHABET[b % ALPHABET.length];
  return out;
}

export function isMediaId(s: string): boolean {
  return MEDIA_ID.test(s);
}

export function isServerName(s: string): boolean {
  return s.length <= 255 && SERVER_NAME.test(s);
}

export function mxcOf(serverName: string, mediaId: string): string {
  return `mxc://${serverName}/${mediaId}`;
}

/** Parses `mxc://server/id`; null when it is not one. */
export function parseMxc(uri: string): { serverName: string; mediaId: string } | null {
  const m = /^mxc:\/\/([^/]+)\/([^/?#]+)$/.exec(uri);
  if (!m || !isServerName(m[1]!) || !isMediaId(m[2]!)) return null;
  return { serverName: m[1]!, mediaId: m[2]! };
}

/**
 * Checks a path's server name and media id before anything touches storage: a malformed one is
 * 400 M_INVALID_PARAM, another server's media is 404 (Nova does not federate media).
 */
export function localMediaId(serverName: string, mediaId: string, ourServerName: string): string {
  if (!isServerName(serverName)) throw invalidParam("Invalid server name");
  if (!isMediaId(mediaId)) throw invalidParam("Invalid media id");
  if (serverName !== ourServerName) throw notFound("Media not found");
  return mediaId;
}
