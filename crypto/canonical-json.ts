// Canonical JSON is the rooms area's (server/rooms/canonical-json.ts): one implementation for event
// signing and key signing. A float in a key object is the client's mistake there too (400).
export { canonicalJson } from "../server/rooms/canonical-json.ts";

/** The object a signature covers: everything but `signatures` and `unsigned`. */
export function signedPart(obj: Record<string, unknown>): Record<string, unknown> {
  const { signatures: _s, unsigned: _u, ...rest } = obj;
  return rest;
}
