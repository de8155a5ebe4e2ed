import { z } from "zod";
import { invalidParam } from "../platform/errors.ts";
import type { TimelinePosition } from "./timeline-store.ts";

const cursorSchema = z.object({ s: z.number().int().nonnegative(), p: z.string().min(1).max(128) });

/** The opaque `next` of a feed page: the (score, post id) of the last item it showed. */
export function encodeCursor(pos: TimelinePosition): string {
  return Buffer.from(JSON.stringify({ s: pos.score, p: pos.postId })).toString("base64url");
}

/** 400 M_INVALID_PARAM for anything a previous page did not hand out. */
export function decodeCursor(raw: string): TimelinePosition {
  if (!/^[A-Za-z0-9_-]+$/.test(raw)) throw invalidParam("from: not a feed cursor");
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(raw, "base64url").toString("utf8"));
  } catch {
    throw invalidParam("from: not a feed cursor");
  }
  const r = cursorSchema.safeParse(value);
  if (!r.success) throw invalidParam("from: not a feed cursor");
  return { score: r.data.s, postId: r.data.p };
}
