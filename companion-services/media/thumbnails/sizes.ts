/** Thumbnail geometry: the spec's pre-generated sizes, and what a request resolves to. Pure. */

export type Method = "crop" | "scale";
export type Box = { width: number; height: number };
export type ThumbnailRequest = Box & { method: Method; animated: boolean };

/** The spec's recommended sizes (and Synapse's DEFAULT_THUMBNAIL_SIZES), made at upload. */
export const PREGENERATED: readonly (Box & { method: Method })[] = [
  { width: 32, height: 32, method: "crop" },
  { width: 96, height: 96, method: "crop" },
  { width: 320, height: 240, method: "scale" },
  { width: 640, height: 480, method: "scale" },
  { width: 800, height: 600, method: "scale" },
];

/** Largest thumbnail edge made on demand; bigger requests are clamped (bounded cache, bounded CPU). */
export const MAX_EDGE = 2048;

/**
 * The dimensions a request yields for an original, never upscaled: `scale` fits inside the box
 * keeping the aspect ratio; `crop` fills the box's aspect ratio, shrunk to the original when it is
 * smaller. Rounded as libvips rounds, to at least one pixel.
 */
export function outputSize(original: Box, req: Box & { method: Method }): Box {
  const w = Math.min(req.width, MAX_EDGE);
  const h = Math.min(req.height, MAX_EDGE);
  if (req.method === "scale") {
    const factor = Math.min(w / original.width, h / original.height, 1);
    return {
      width: Math.max(1, Math.round(original.width * factor)),
      height: Math.max(1, Math.round(original.height * factor)),
    };
  }
  // crop: the box's aspect ratio, as large as the box but no larger than the original allows.
  const factor = Math.min(1, original.width / w, original.height / h);
  return { width: Math.max(1, Math.round(w * factor)), height: Math.max(1, Math.round(h * factor)) };
}

/** Whether the original itself answers the request (it is no bigger than what was asked for). */
export function originalSuffices(original: Box, req: Box): boolean {
  return original.width <= req.width && original.height <= req.height;
}

/**
 * Among stored thumbnails of the same method and animation, the one to serve for a request that
 * resolves to `want`: the exact size, else the smallest that is at least as large in both
 * dimensions with the same aspect ratio (so the client never gets less than it asked for).
 */
export function pickStored<T extends Box & { method: Method; animated: boolean }>(
  stored: readonly T[],
  req: ThumbnailRequest,
  want: Box,
): T | undefined {
  const same = stored.filter((t) => t.method === req.method && t.animated === req.animated);
  const exact = same.find((t) => t.width === want.width && t.height === want.height);
  if (exact) return exact;
  const ratio = want.width / want.height;
  return same
    .filter(
      (t) =>
        t.width >= want.width &&
        t.height >= want.height &&
        Math.abs(t.width / t.height - ratio) <= 0.02 * ratio &&
        t.width <= want.width * 2,
    )
    .sort((a, b) => a.width * a.height - b.width * b.height)[0];
}
