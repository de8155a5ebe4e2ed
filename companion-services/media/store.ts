import { createHash } from "node:crypto";
import { type BlobStore, contentKey } from "./storage/blob-store.ts";
import { imageFacts, THUMBNAILABLE } from "./thumbnails/render.ts";
import type { StoredBytes } from "./uploads.repository.ts";

/**
 * Puts an upload's bytes in the blob store, content-addressed (identical files are stored once),
 * and learns what they are: SHA-256, the type their magic numbers say (file-type), and an image's
 * dimensions. The bytes are never changed (clients check the hash of encrypted attachments).
 */
export async function storeBytes(
  blobs: BlobStore,
  bytes: Buffer,
  meta: { contentType: string | null; uploadName: string | null; now: number },
): Promise<StoredBytes> {
  const sha256 = createHash("sha256").update(bytes).digest("hex");
  const sniffedType = (await sniff(bytes)) ?? null;
  let width: number | null = null;
  let height: number | null = null;
  if (sniffedType && THUMBNAILABLE.has(sniffedType)) {
    try {
      const facts = await imageFacts(bytes);
      width = facts.width;
      height = facts.height;
    } catch {
      // A corrupt or oversized image is still a file: stored, served, never thumbnailed.
    }
  }
  const storageKey = contentKey(sha256);
  if ((await blobs.size(storageKey)) !== bytes.length) await blobs.put(storageKey, bytes);
  return {
    contentType: meta.contentType,
    sniffedType,
    uploadName: meta.uploadName,
    bytes: bytes.length,
    sha256,
    storageKey,
    width,
    height,
    uploadedAt: meta.now,
  };
}

async function sniff(bytes: Buffer): Promise<string | undefined> {
  if (bytes.length === 0) return undefined;
  try {
    // Loaded on first upload rather than at start.
    const { fileTypeFromBuffer } = await import("file-type");
    return (await fileTypeFromBuffer(bytes))?.mime;
  } catch {
    return undefined;
  }
}
