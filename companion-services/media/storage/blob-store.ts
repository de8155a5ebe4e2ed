/**
 * Where media bytes live. Keys are relative paths of `[A-Za-z0-9._-]` segments separated by `/`
 * (originals are content-addressed: `sha256/ab/cd/<hex>`; thumbnails, chunks and video renditions
 * have their own prefixes). Every adapter refuses any other key, so no caller can escape the
 * store whatever a client put in a media id or file name.
 */
export interface BlobStore {
  readonly kind: "filesystem" | "s3";
  /**
   * Writes the bytes under `key`; writing the same key twice leaves one copy. `durable: false`
   * is for derived bytes that can be made again (thumbnails): no fsync before it returns.
   */
  put(key: string, bytes: Uint8Array, opts?: { durable?: boolean }): Promise<void>;
  /** The bytes, or the inclusive range `[start, end]` of them; null when the key is absent. */
  get(key: string, range?: ByteRange): Promise<Buffer | null>;
  /** Size in bytes, or null when the key is absent. */
  size(key: string): Promise<number | null>;
  delete(key: string): Promise<void>;
  /** Keys under a prefix (for a video's renditions, a session's chunks). */
  list(prefix: string): Promise<string[]>;
}

export type ByteRange = { start: number; end: number };

const SEGMENT = /^[A-Za-z0-9_-][A-Za-z0-9._-]*$/;

/** Throws unless `key` is a safe relative key (see BlobStore). */
export function assertKey(key: string): void {
  if (key.length === 0 || key.length > 512) throw new Error("invalid blob key");
  for (const segment of key.split("/")) {
    if (!SEGMENT.test(segment) || segment === "." || segment === "..") throw new Error("invalid blob key");
  }
}

/** The content-addressed key of an original: sha256/ab/cd/<hex>. */
export function contentKey(sha256Hex: string): string {
  return `sha256/${sha256Hex.slice(0, 2)}/${sha256Hex.slice(2, 4)}/${sha256Hex}`;
}
