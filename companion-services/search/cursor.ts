import { z } from "zod";
import { invalidParam } from "../platform/errors.ts";

/**
 * Opaque page cursors: an offset into a ranked list, or for recent-first room events the last
 * hit's stream position (new events arriving do not shift the pages after it). A cursor is only
 * meaningful with the query that made it; a malformed one is a 400, never a 500.
 */
const cursorSchema = z.union([
  z.object({ o: z.number().int().min(0).max(100_000) }),
  z.object({ p: z.number().int().min(0), e: z.string().max(255) }),
]);
export type Cursor = z.infer<typeof cursorSchema>;

export function encodeCursor(c: Cursor): string {
  return Buffer.from(JSON.stringify(c)).toString("base64url");
}

export function decodeCursor(raw: string | undefined): Cursor | null {
  if (raw === undefined || raw === "") return null;
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(raw, "base64url").toString("utf8"));
  } catch {
    throw invalidParam("Invalid pagination token");
  }
  const r = cursorSchema.safeParse(parsed);
  if (!r.success) throw invalidParam("Invalid pagination token");
  return r.data;
}

export const offsetOf = (c: Cursor | null): number => (c && "o" in c ? c.o : 0);
