import { createHmac, timingSafeEqual } from "node:crypto";

/**
 * Signed media URLs, so a CDN in front can fetch and cache media without an access token.
 *
 * Scheme: `sig = base64url(HMAC-SHA256(secret, path + "\n" + expires))`, where `path` is the
 * URL's path exactly as requested (no query, no host) and `expires` is the instant the URL stops
 * working, in whole seconds since the epoch. The URL is `${baseUrl}${path}?expires=…&sig=…`.
 * Signed paths:
 *
 * - `/_nova/v1/cdn/media/{serverName}/{mediaId}` — the original
 * - `/_nova/v1/cdn/media/{serverName}/{mediaId}/thumbnail/{width}x{height}/{method}` — a thumbnail
 * - `/_nova/v1/cdn/videos/{id}/hls/…` — a video rendition's playlists and segments
 *
 * The signature covers the path only, so every parameter that selects bytes must be in the path
 * (as the thumbnail's size and method are), never in the query. The route answers 403 to
 * `forged`, 403 (or 410) to `expired`, and may fall back to its ordinary authentication on
 * `absent`. Rotating the secret invalidates every URL signed with the old one.
 */
export type CdnSettings = { baseUrl: string; secret: string; ttlSeconds: number };

export type SignatureCheck = "ok" | "expired" | "forged" | "absent";

export const CDN_MEDIA_PREFIX = "/_nova/v1/cdn/media/";
export const CDN_VIDEOS_PREFIX = "/_nova/v1/cdn/videos/";

/** The signature of `path` valid until `expiresAtS` (epoch seconds), base64url without padding. */
export function signPath(secret: string, path: string, expiresAtS: number): string {
  return createHmac("sha256", secret).update(`${path}\n${expiresAtS}`).digest("base64url");
}

/** The CDN URL of `path`, valid for `cdn.ttlSeconds` from `nowMs`. */
export function signedUrl(cdn: CdnSettings, path: string, nowMs: number): string {
  const expires = Math.floor(nowMs / 1000) + cdn.ttlSeconds;
  return `${cdn.baseUrl}${path}?expires=${expires}&sig=${signPath(cdn.secret, path, expires)}`;
}

const SIG_LENGTH = 32;

/**
 * Checks a request's `expires` and `sig` for `path` at `nowMs`: `absent` when either parameter
 * is missing, `forged` when one is malformed or repeated or the signature does not match (checked
 * before the expiry, so a forger learns nothing from the answer), `expired` from the `expires`
 * second on, else `ok`. The comparison takes the same time wherever the signatures differ.
 */
export function verifySigned(
  secret: string,
  path: string,
  query: URLSearchParams,
  nowMs: number,
): SignatureCheck {
  const expiresAll = query.getAll("expires");
  const sigAll = query.getAll("sig");
  if (expiresAll.length === 0 || sigAll.length === 0) return "absent";
  if (expiresAll.length > 1 || sigAll.length > 1) return "forged";
  const expiresText = expiresAll[0]!;
  const sigText = sigAll[0]!;
  if (!/^\d{1,12}$/.test(expiresText) || !/^[A-Za-z0-9_-]{43}$/.test(sigText)) return "forged";
  const given = Buffer.from(sigText, "base64url");
  if (given.length !== SIG_LENGTH) return "forged";
  const expires = Number(expiresText);
  const expected = createHmac("sha256", secret).update(`${path}\n${expires}`).digest();
  if (!timingSafeEqual(given, expected)) return "forged";
  // Only the canonical spelling of `expires` was signed ("0123" would verify as "123").
  if (String(expires) !== expiresText) return "forged";
  return nowMs >= expires * 1000 ? "expired" : "ok";
}
