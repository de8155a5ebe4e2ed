/**
 * A response body as UTF-8 text, reading at most `max` bytes: null when it is longer (the rest is
 * never read; `cancel` stops the stream). For answers of outside servers (push gateways, identity
 * servers), which must not be able to make Nova buffer without bound.
 */
export async function readCapped(
  body: AsyncIterable<Uint8Array | string>,
  max: number,
  cancel: () => unknown,
): Promise<string | null> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    const b = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk);
    size += b.length;
    if (size > max) {
      await cancel();
      return null;
    }
    chunks.push(b);
  }
  return Buffer.concat(chunks).toString("utf8");
}
