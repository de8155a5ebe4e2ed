/** What stands for a hidden value in `nova config check`. */
export const MASK = "***";

/**
 * Whether a variable holds a secret by its name: a word PASSWORD, PASSWD or SECRET anywhere, or a
 * name ending in TOKEN or KEY (NOVA_TURN_SECRET, NOVA_MEDIA_S3_SECRET_KEY, NOVA_MEDIA_S3_ACCESS_KEY,
 * NOVA_ADMIN_TOKEN). A duration about tokens (NOVA_ACCESS_TOKEN_TTL_MS) is not a secret.
 */
export function isSecretName(name: string): boolean {
  const words = name.toUpperCase().split("_");
  if (words.some((w) => w === "PASSWORD" || w === "PASSWD" || w === "SECRET" || w === "SECRETS")) return true;
  const last = words.at(-1);
  return last === "TOKEN" || last === "KEY" || last === "KEYS";
}

/** A query parameter whose value is a credential (`?password=…`, libpq's `sslpassword`, `token`). */
const SECRET_PARAM = /([?&](?:[a-z_]*password|passwd|secret|token|api_?key|access_?key)=)[^&#,\s]*/gi;
/** `scheme://user:password@` — the password part (up to the last `@` of the authority), as in postgres:// and redis:// URLs. */
const URL_PASSWORD = /([a-z][a-z0-9+.-]*:\/\/[^/@:,\s]*):[^/,\s]*@/gi;

/**
 * A setting's value as `nova config check` may print it: secrets by name replaced whole (an empty
 * one stays empty, so "not set" remains visible); in any other value, credentials inside URLs —
 * the password of `postgres://user:pass@host`, secret query parameters — replaced. The user name
 * stays: it tells which role a service connects as.
 */
export function maskSetting(name: string, value: string): string {
  if (isSecretName(name)) return value === "" ? "" : MASK;
  return value.replace(URL_PASSWORD, `$1:${MASK}@`).replace(SECRET_PARAM, `$1${MASK}`);
}
