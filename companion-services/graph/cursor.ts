import { invalidParam } from "../platform/errors.ts";

/** A position in a follow list: the (created_at, user id) of the last edge of a page. */
export type FollowCursor = { at: number; userId: string };

/** Opaque to clients: base64url of `[at, userId]`, so its shape can change without a new API. */
export function encodeCursor(c: FollowCursor): string {
  return Buffer.from(JSON.stringify([c.at, c.userId]), "utf8").toString("base64url");
}

/** A cursor this service did not write is a client mistake (400), never a 500. */
export function decodeCursor(raw: string): FollowCursor {
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(raw, "base64url").toString("utf8"));
  } catch {
    throw invalidParam("from: not a cursor from a previous page");
  }
  if (
    !Array.isArray(parsed) ||
    parsed.length !== 2 ||
    !Number.isSafeInteger(parsed[0]) ||
    typeof parsed[1] !== "string" ||
    !parsed[1].startsWith("@") ||
    parsed[1].includes("\u0000")
  ) {
    throw invalidParam("from: not a cursor from a previous page");
  }
  return { at: parsed[0] as number, userId: parsed[1] };
}
