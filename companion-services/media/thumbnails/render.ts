import { loadSharp } from "./sharp.ts";
import type { Box, ThumbnailRequest } from "./sizes.ts";

/** Decoders Nova thumbnails (Synapse: jpeg, png, webp, gif); never SVG or PDF. */
export const THUMBNAILABLE = new Set(["image/jpeg", "image/png", "image/webp", "image/gif"]);

/** Synapse's cap on decoded size (32 Mpx), against decompression bombs. */
export const MAX_PIXELS = 32 * 1024 * 1024;

export type Rendered = {
  bytes: Buffer;
  contentType: string;
  width: number;
  height: number;
  animated: boolean;
};

export type ImageFacts = { width: number; height: number; pages: number };

/** Thrown when the bytes cannot be thumbnailed: corrupt, truncated, or over the pixel cap. */
export class ThumbnailError extends Error {
  constructor(
    message: string,
    readonly tooLarge = false,
  ) {
    super(message);
    this.name = "ThumbnailError";
  }
}

async function opened(bytes: Buffer, animated: boolean) {
  // libvips decodes on its own thread pool, off the JavaScript thread.
  return (await loadSharp())(bytes, { animated, limitInputPixels: MAX_PIXELS, failOn: "error" });
}

/** Dimensions as displayed (EXIF orientation applied) and frame count. */
export async function imageFacts(bytes: Buffer): Promise<ImageFacts> {
  try {
    const m = await (await opened(bytes, false)).metadata();
    if (!m.width || !m.height) throw new ThumbnailError("Image has no dimensions");
    if (m.width * m.height > MAX_PIXELS) throw new ThumbnailError("Image is too large to thumbnail", true);
    const swap = (m.orientation ?? 1) >= 5;
    return { width: swap ? m.height : m.width, height: swap ? m.width : m.height, pages: m.pages ?? 1 };
  } catch (err) {
    throw asThumbnailError(err);
  }
}

/**
 * One thumbnail: orientation applied, metadata (EXIF, GPS) dropped, never upscaled. JPEG for
 * JPEG and WebP sources, PNG for PNG and GIF (transparency), animated WebP when animation was
 * asked for and the source has frames.
 */
export async function render(
  bytes: Buffer,
  sourceType: string,
  facts: ImageFacts,
  req: ThumbnailRequest,
): Promise<Rendered> {
  const animated =
    req.animated && facts.pages > 1 && (sourceType === "image/gif" || sourceType === "image/webp");
  try {
    let p = (await opened(bytes, animated)).rotate().resize(req.width, req.height, {
      fit: req.method === "crop" ? "cover" : "inside",
      withoutEnlargement: true,
    });
    let contentType: string;
    if (animated) {
      p = p.webp({ quality: 80 });
      contentType = "image/webp";
    } else if (sourceType === "image/png" || sourceType === "image/gif") {
      p = p.png({ compressionLevel: 6 });
      contentType = "image/png";
    } else {
      p = p.jpeg({ quality: 80, mozjpeg: false });
      contentType = "image/jpeg";
    }
    const { data, info } = await p.toBuffer({ resolveWithObject: true });
    const height = animated && info.pageHeight ? info.pageHeight : info.height;
    return { bytes: data, contentType, width: info.width, height, animated };
  } catch (err) {
    throw asThumbnailError(err);
  }
}

function asThumbnailError(err: unknown): ThumbnailError {
  if (err instanceof ThumbnailError) return err;
  const message = err instanceof Error ? err.message : String(err);
  if (/pixel limit/i.test(message)) return new ThumbnailError("Image is too large to thumbnail", true);
  return new ThumbnailError("Cannot decode the image");
}

export type { Box };
