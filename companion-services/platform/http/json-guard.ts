/**
 * What a client may send as JSON, checked on the text before it is parsed: at most
 * MAX_JSON_DEPTH levels of nesting (canonical JSON, JSON.stringify and every recursive walker
 * below would overflow the stack on 5,000; the spec has no use for more than a few), and no
 * escaped NUL in a string (PostgreSQL cannot store U+0000 in text or jsonb, so it would come back
 * as a 500). Both are a client's mistake: 400 M_BAD_JSON.
 */
export const MAX_JSON_DEPTH = 100;

export type JsonVerdict = "ok" | "too_deep" | "nul";

const QUOTE = 34;
const BACKSLASH = 92;
const U = 117;
const OPEN_OBJECT = 123;
const OPEN_ARRAY = 91;
const CLOSE_OBJECT = 125;
const CLOSE_ARRAY = 93;

export function checkJsonText(text: string): JsonVerdict {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === BACKSLASH) {
        if (text.charCodeAt(i + 1) === U && text.startsWith("0000", i + 2)) return "nul";
        i++;
      } else if (c === QUOTE) {
        inString = false;
      }
    } else if (c === QUOTE) {
      inString = true;
    } else if (c === OPEN_OBJECT || c === OPEN_ARRAY) {
      if (++depth > MAX_JSON_DEPTH) return "too_deep";
    } else if (c === CLOSE_OBJECT || c === CLOSE_ARRAY) {
      depth--;
    }
  }
  return "ok";
}

/** The message a verdict is refused with. */
export function jsonVerdictMessage(v: Exclude<JsonVerdict, "ok">): string {
  return v === "nul"
    ? "NUL characters (\\u0000) are not allowed"
    : `JSON nested deeper than ${MAX_JSON_DEPTH} levels`;
}

/** A string with U+0000 in it (a path segment or query value decoded from %00). */
export function hasNul(s: string): boolean {
  return s.includes("\u0000");
}
