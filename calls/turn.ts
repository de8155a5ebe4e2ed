import { createHmac } from "node:crypto";

export type TurnConfig = { uris: string[]; secret: string; ttl: number };

/** What `GET /voip/turnServer` answers: coturn REST-API credentials, or `{}` when TURN is off. */
export type TurnCredentials =
  | { username: string; password: string; uris: string[]; ttl: number }
  | Record<string, never>;

/**
 * Time-limited TURN credentials in coturn's REST-API scheme (`use-auth-secret`): the username is
 * `<expiry unix seconds>:<user id>` and the password is base64(HMAC-SHA1(shared secret, username)),
 * so coturn can check them without ever talking to Nova.
 */
export function turnCredentials(config: TurnConfig, userId: string, nowMs = Date.now()): TurnCredentials {
  // The spec's answer when the server offers no TURN: an empty object (clients then use STUN/host only).
  if (!config.secret || config.uris.length === 0) return {};
  const expiry = Math.floor(nowMs / 1000) + config.ttl;
  const username = `${expiry}:${userId}`;
  const password = createHmac("sha1", config.secret).update(username).digest("base64");
  return { username, password, uris: config.uris, ttl: config.ttl };
}
