import type { Sharp, SharpOptions } from "sharp";

type SharpFn = (input?: Buffer, options?: SharpOptions) => Sharp;
let loaded: Promise<SharpFn> | null = null;

/**
 * sharp (libvips) loaded on first use: it costs ~100 ms and ~30 MB of RSS, which a server that
 * has not been sent an image yet need not pay at start.
 */
export function loadSharp(): Promise<SharpFn> {
  loaded ??= import("sharp").then((m) => m.default);
  return loaded;
}
