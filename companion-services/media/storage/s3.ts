import {
  CreateBucketCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
} from "@aws-sdk/client-s3";
import type { S3Settings } from "../config.ts";
import { assertKey, type BlobStore, type ByteRange } from "./blob-store.ts";

/**
 * Media bytes in an S3-compatible bucket (AWS, MinIO, Garage, Ceph…). Keys are checked with
 * `assertKey` exactly as on the filesystem, and `list(prefix)` has the filesystem's meaning: the
 * keys below the folder `prefix` (`a/b` lists `a/b/…`, never `a/bc`). A range past the end of an
 * object reads as empty bytes, as a short file read does.
 *
 * The SDK's default request checksums are sent only when an operation requires them, since
 * several S3-compatible servers reject the newer trailing-checksum uploads.
 */
export class S3BlobStore implements BlobStore {
  readonly kind = "s3" as const;
  private readonly client: S3Client;
  private readonly bucket: string;

  constructor(settings: S3Settings) {
    this.bucket = settings.bucket;
    this.client = new S3Client({
      region: settings.region,
      forcePathStyle: settings.forcePathStyle,
      requestChecksumCalculation: "WHEN_REQUIRED",
      responseChecksumValidation: "WHEN_REQUIRED",
      ...(settings.endpoint ? { endpoint: settings.endpoint } : {}),
      ...(settings.accessKeyId && settings.secretAccessKey
        ? { credentials: { accessKeyId: settings.accessKeyId, secretAccessKey: settings.secretAccessKey } }
        : {}),
    });
  }

  /** Creates the bucket unless it exists (call once at startup). */
  async ensureBucket(): Promise<void> {
    try {
      await this.client.send(new HeadBucketCommand({ Bucket: this.bucket }));
      return;
    } catch (err) {
      if (!isNotFound(err) && (err as { name?: string } | null)?.name !== "NoSuchBucket") throw err;
    }
    try {
      await this.client.send(new CreateBucketCommand({ Bucket: this.bucket }));
    } catch (err) {
      const name = (err as { name?: string } | null)?.name;
      if (name !== "BucketAlreadyOwnedByYou" && name !== "BucketAlreadyExists") throw err;
    }
  }

  async put(key: string, bytes: Uint8Array): Promise<void> {
    assertKey(key);
    await this.client.send(
      new PutObjectCommand({ Bucket: this.bucket, Key: key, Body: bytes, ContentLength: bytes.byteLength }),
    );
  }

  async get(key: string, range?: ByteRange): Promise<Buffer | null> {
    assertKey(key);
    try {
      const res = await this.client.send(
        new GetObjectCommand({
          Bucket: this.bucket,
          Key: key,
          ...(range ? { Range: `bytes=${range.start}-${range.end}` } : {}),
        }),
      );
      const bytes = res.Body ? Buffer.from(await res.Body.transformToByteArray()) : Buffer.alloc(0);
      if (!range) return bytes;
      // A server may answer more than was asked: the whole object (HTTP lets it ignore Range), or
      // a wider range (s3rver reads `bytes=0-0` as `bytes=0-`). Cut out what was asked.
      const served = /^bytes (\d+)-/.exec(res.ContentRange ?? "");
      const offset = range.start - (served ? Number(served[1]) : 0);
      if (offset < 0) throw new Error("the S3 server answered a range that does not cover the request");
      return bytes.subarray(offset, offset + range.end - range.start + 1);
    } catch (err) {
      if (isNotFound(err)) return null;
      if (range && status(err) === 416) return Buffer.alloc(0);
      throw err;
    }
  }

  async size(key: string): Promise<number | null> {
    assertKey(key);
    try {
      const res = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: key }));
      return res.ContentLength ?? 0;
    } catch (err) {
      if (isNotFound(err)) return null;
      throw err;
    }
  }

  async delete(key: string): Promise<void> {
    assertKey(key);
    await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: key }));
  }

  async list(prefix: string): Promise<string[]> {
    const folder = prefix.replace(/\/+$/, "");
    assertKey(folder);
    const out: string[] = [];
    let token: string | undefined;
    do {
      const res = await this.client.send(
        new ListObjectsV2Command({
          Bucket: this.bucket,
          Prefix: `${folder}/`,
          ...(token ? { ContinuationToken: token } : {}),
        }),
      );
      for (const o of res.Contents ?? []) if (o.Key) out.push(o.Key);
      token = res.IsTruncated ? res.NextContinuationToken : undefined;
    } while (token);
    return out.sort();
  }

  /** Releases the client's sockets. */
  close(): void {
    this.client.destroy();
  }
}

function status(err: unknown): number | undefined {
  return (err as { $metadata?: { httpStatusCode?: number } } | null)?.$metadata?.httpStatusCode;
}

function isNotFound(err: unknown): boolean {
  const name = (err as { name?: string } | null)?.name;
  if (name === "NoSuchBucket") return false;
  return name === "NoSuchKey" || name === "NotFound" || status(err) === 404;
}
