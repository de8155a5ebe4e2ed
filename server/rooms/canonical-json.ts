import { badJson } from "../../companion-services/platform/errors.ts";

/** Largest magnitude an integer may have in canonical JSON (the spec's [-(2^53)+1, 2^53-1]). */
const MAX_SAFE = Number.MAX_SAFE_INTEGER;

/**
 * Canonical JSON (spec appendix "Canonical JSON"): object keys sorted by Unicode code point, no
 * insignificant whitespace, UTF-8 without escaping beyond what JSON requires, integers only (room
 * versions ≥ 6 reject floats and out-of-range integers, so a float is the client's mistake: 400).
 * `strict: false` is the encoding of room versions 1–5, which take any finite number.
 */
export function canonicalJson(value: unknown, opts: { strict?: boolean } = {}): string {
  return encode(value, "", opts.strict ?? true);
}

function encode(value: unknown, path: string, strict: boolean): string {
  switch (typeof value) {
    case "string":
      // JSON.stringify already uses the shortest escapes and lowercase \u00XX for controls.
      return JSON.stringify(value);
    case "number":
      if (!Number.isFinite(value)) throw badJson(`${path || "value"}: not representable in JSON`);
      if (!strict) return JSON.stringify(value);
      if (!Number.isInteger(value)) throw badJson(`${path || "value"}: floats are not allowed in events`);
      if (value > MAX_SAFE || value < -MAX_SAFE) throw badJson(`${path || "value"}: integer out of range`);
      return value === 0 ? "0" : String(value);
    case "boolean":
      return value ? "true" : "false";
    case "object": {
      if (value === null) return "null";
      if (Array.isArray(value)) {
        let out = "[";
        for (let i = 0; i < value.length; i++) {
          if (i > 0) out += ",";
          out += encode(value[i], path, strict);
        }
        return `${out}]`;
      }
      const obj = value as Record<string, unknown>;
      const keys = Object.keys(obj).filter((k) => obj[k] !== undefined);
      keys.sort(compareCodePoints);
      let out = "{";
      for (let i = 0; i < keys.length; i++) {
        const k = keys[i]!;
        if (i > 0) out += ",";
        out += `${JSON.stringify(k)}:${encode(obj[k], path ? `${path}.${k}` : k, strict)}`;
      }
      return `${out}}`;
    }
    default:
      throw badJson(`${path || "value"}: not representable in JSON`);
  }
}

/**
 * Orders strings by Unicode code point. JavaScript's default sort compares UTF-16 code units, which
 * differs only when a surrogate pair meets a BMP character at or above U+E000.
 */
export function compareCodePoints(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const ca = a.charCodeAt(i);
    const cb = b.charCodeAt(i);
    if (ca === cb) continue;
    if (ca >= 0xd800 && cb >= 0xd800) {
      const pa = a.codePointAt(i)!;
      const pb = b.codePointAt(i)!;
      return pa < pb ? -1 : pa > pb ? 1 : 0;
    }
    return ca - cb;
  }
  return a.length - b.length;
}
