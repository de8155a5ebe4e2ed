import { z } from "zod";
import { fromZod, invalidParam } from "../platform/errors.ts";
import type { ThumbnailRequest } from "./thumbnails/sizes.ts";

/** What clients put in media query strings, checked before anything else runs. */

const DEFAULT_TIMEOUT_MS = 20_000;
/** Synapse's ceiling on how long a read waits for a pending upload. */
const MAX_TIMEOUT_MS = 60_000;

const int = (name: string) =>
  z
    .string({ error: `${name} is required` })
    .regex(/^\d{1,9}$/, `${name} must be a non-negative integer`)
    .transform(Number);

const thumbnailQuery = z.object({
  width: int("width").refine((n) => n > 0, "width must be positive"),
  height: int("height").refine((n) => n > 0, "height must be positive"),
  method: z.enum(["crop", "scale"]).default("scale"),
  animated: z.enum(["true", "false"]).optional(),
});

export function timeoutMs(query: URLSearchParams): number {
  const raw = query.get("timeout_ms");
  if (raw === null) return DEFAULT_TIMEOUT_MS;
  if (!/^\d{1,9}$/.test(raw)) throw invalidParam("timeout_ms must be a non-negative integer");
  return Math.min(Number(raw), MAX_TIMEOUT_MS);
}

export function thumbnailParams(query: URLSearchParams): ThumbnailRequest {
  const r = thumbnailQuery.safeParse({
    width: query.get("width") ?? undefined,
    height: query.get("height") ?? undefined,
    method: query.get("method") ?? undefined,
    animated: query.get("animated") ?? undefined,
  });
  if (!r.success) {
    const missing = r.error.issues.some((i) => i.code === "invalid_type");
    throw fromZod(r.error, missing ? "M_MISSING_PARAM" : "M_INVALID_PARAM");
  }
  return {
    width: r.data.width,
    height: r.data.height,
    method: r.data.method,
    animated: r.data.animated === "true",
  };
}

/**
 * The `filename` of an upload: valid UTF-8 (checked on the raw query, since URLSearchParams
 * silently replaces bad bytes), no control characters, at most 255 characters; empty means none.
 */
export function uploadFileName(rawQuery: string): string | undefined {
  for (const part of rawQuery.split("&")) {
    const eq = part.indexOf("=");
    const key = eq < 0 ? part : part.slice(0, eq);
    if (key !== "filename") continue;
    let value: string;
    try {
      value = decodeURIComponent((eq < 0 ? "" : part.slice(eq + 1)).replace(/\+/g, " "));
    } catch {
      throw invalidParam("filename is not valid UTF-8");
    }
    return checkFileName(value);
  }
  return undefined;
}

export function checkFileName(value: string): string | undefined {
  if (value === "") return undefined;
  // biome-ignore lint/suspicious/noControlCharactersInRegex: refusing control characters is the point
  if (/[\u0000-\u001f\u007f]/.test(value) || value.length > 255) throw invalidParam("Invalid filename");
  return value;
}
