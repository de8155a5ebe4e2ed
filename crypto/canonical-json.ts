/**
 * Matrix canonical JSON: object keys sorted by code point, no insignificant whitespace, UTF-8.
 * JSON.stringify already escapes exactly what the spec asks (control characters, quotes, lone
 * surrogates) and leaves the rest as UTF-8.
 */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== "object") return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  const obj = value as Record<string, unknown>;
  const keys = Object.keys(obj)
    .filter((k) => obj[k] !== undefined)
    .sort(byCodePoint);
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(obj[k])}`).join(",")}}`;
}

/** UTF-16 order differs from code point order only around surrogates; compare UTF-8 bytes there. */
function byCodePoint(a: string, b: string): number {
  if (a === b) return 0;
  return Buffer.compare(Buffer.from(a, "utf8"), Buffer.from(b, "utf8"));
}

/** The object a signature covers: everything but `signatures` and `unsigned`. */
export function signedPart(obj: Record<string, unknown>): Record<string, unknown> {
  const { signatures: _s, unsigned: _u, ...rest } = obj;
  return rest;
}
