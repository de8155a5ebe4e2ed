import { invalidParam } from "../platform/errors.ts";

/** A keyset position: the sort time and the id that breaks ties. */
export type Cursor = { at: number; id: string };

/** Opaque to clients: base64url of `<at>:<id>`. */
export function encodeCursor(c: Cursor): string {
  return Buffer.from(`${c.at}:${c.id}`).toString("base64url");
}

/** A cursor that was not one of ours is the client's mistake (400), never a 500. */
export function decodeCursor(from: string | null | undefined): Cursor | null {
  if (!from) return null;
  const text = Buffer.from(from, "base64url").toString("utf8");
  const m = /^(\d{1,16}):([0-9a-f-]{36})$/.exec(text);
  if (!m) throw invalidParam("from: not a cursor from a previous page");
  return { at: Number(m[1]), id: m[2] };
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Ids are uuids; anything else names no post (404 at the edge, not a database error). */
export function isUuid(s: string): boolean {
  return UUID.test(s);
}

/** Takes one row past the page to learn whether there is a next page. */
export function pageFrom<T>(rows: T[], limit: number, cursorOf: (row: T) => Cursor) {
  const items = rows.slice(0, limit);
  const last = items.at(-1);
  return { items, next: rows.length > limit && last ? encodeCursor(cursorOf(last)) : null };
}
