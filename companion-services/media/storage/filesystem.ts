import { randomUUID } from "node:crypto";
import { mkdir, open, readdir, rename, rm, stat } from "node:fs/promises";
import path from "node:path";
import { assertKey, type BlobStore, type ByteRange } from "./blob-store.ts";

/**
 * Media bytes under one folder. Writes go to a temporary file and are renamed into place, so a
 * reader never sees half a file and a crash leaves no torn blob. Every path is checked to stay
 * inside the folder (a second line of defence after `assertKey`).
 */
export class FilesystemBlobStore implements BlobStore {
  readonly kind = "filesystem" as const;
  private readonly root: string;

  constructor(root: string) {
    this.root = path.resolve(root);
  }

  private pathOf(key: string): string {
    assertKey(key);
    const full = path.resolve(this.root, key);
    if (!full.startsWith(this.root + path.sep)) throw new Error("invalid blob key");
    return full;
  }

  async put(key: string, bytes: Uint8Array, opts: { durable?: boolean } = {}): Promise<void> {
    const full = this.pathOf(key);
    await mkdir(path.dirname(full), { recursive: true });
    const tmp = path.join(this.root, ".tmp", randomUUID());
    await mkdir(path.dirname(tmp), { recursive: true });
    const fh = await open(tmp, "w");
    try {
      await fh.writeFile(bytes);
      if (opts.durable !== false) await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, full);
  }

  async get(key: string, range?: ByteRange): Promise<Buffer | null> {
    const full = this.pathOf(key);
    let fh: Awaited<ReturnType<typeof open>>;
    try {
      fh = await open(full, "r");
    } catch (err) {
      if (isNotFound(err)) return null;
      throw err;
    }
    try {
      if (!range) return await fh.readFile();
      const length = range.end - range.start + 1;
      const buf = Buffer.alloc(length);
      const { bytesRead } = await fh.read(buf, 0, length, range.start);
      return bytesRead === length ? buf : buf.subarray(0, bytesRead);
    } finally {
      await fh.close();
    }
  }

  async size(key: string): Promise<number | null> {
    try {
      return (await stat(this.pathOf(key))).size;
    } catch (err) {
      if (isNotFound(err)) return null;
      throw err;
    }
  }

  async delete(key: string): Promise<void> {
    await rm(this.pathOf(key), { force: true });
  }

  async list(prefix: string): Promise<string[]> {
    const dir = this.pathOf(prefix.replace(/\/+$/, ""));
    const out: string[] = [];
    const walk = async (d: string): Promise<void> => {
      let entries: import("node:fs").Dirent[];
      try {
        entries = await readdir(d, { withFileTypes: true });
      } catch (err) {
        if (isNotFound(err)) return;
        throw err;
      }
      for (const e of entries) {
        const full = path.join(d, e.name);
        if (e.isDirectory()) await walk(full);
        else out.push(path.relative(this.root, full).split(path.sep).join("/"));
      }
    };
    await walk(dir);
    return out.sort();
  }
}

function isNotFound(err: unknown): boolean {
  const code = (err as { code?: string } | null)?.code;
  return code === "ENOENT" || code === "ENOTDIR";
}
