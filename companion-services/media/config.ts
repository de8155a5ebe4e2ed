import { z } from "zod";
import { ConfigError } from "../platform/config.ts";

const MiB = 1024 * 1024;
const bool = z.enum(["0", "1", "false", "true"]).transform((v) => v === "1" || v === "true");
const optionalUrl = z.string().url().optional();

/**
 * The media service's settings: limits, storage, legacy-endpoint freeze, URL previews, video
 * transcoding, CDN signing, and where its own listeners are in distributed mode. One part of the
 * process's configuration (server/config.ts composes it and parses the environment once).
 * Documented in docs/media.md.
 */
export const mediaEnvSchema = z.object({
  /** Largest upload, bytes (Synapse's default: 50M). */
  NOVA_MEDIA_MAX_UPLOAD: z.coerce
    .number()
    .int()
    .positive()
    .default(50 * MiB),
  /** Bytes one user may store in all; 0 means no quota. */
  NOVA_MEDIA_QUOTA_BYTES: z.coerce.number().int().nonnegative().default(0),
  // The upload rate is NOVA_RATELIMIT_MEDIA_UPLOAD[_IP], with the other rate limits
  // (server/operations-config.ts): media reads it from the process's `rateLimits`.
  /** Created-but-not-uploaded ids one user may hold (MSC2246; Synapse: 5). */
  NOVA_MEDIA_MAX_PENDING: z.coerce.number().int().positive().default(5),
  /** How long a created id waits for its bytes, ms (MSC2246 recommends 24 h). */
  NOVA_MEDIA_UNUSED_EXPIRY_MS: z.coerce
    .number()
    .int()
    .positive()
    .default(24 * 3600_000),
  /** Where bytes live: the filesystem under NOVA_MEDIA_DIR, or an S3-compatible bucket. */
  NOVA_MEDIA_STORAGE: z.enum(["filesystem", "s3"]).default("filesystem"),
  /** Folder of the filesystem store; default `<NOVA_DATA_DIR>/media`. */
  NOVA_MEDIA_DIR: z.string().optional(),
  NOVA_MEDIA_S3_ENDPOINT: optionalUrl,
  NOVA_MEDIA_S3_BUCKET: z.string().optional(),
  NOVA_MEDIA_S3_REGION: z.string().default("us-east-1"),
  NOVA_MEDIA_S3_ACCESS_KEY: z.string().optional(),
  NOVA_MEDIA_S3_SECRET_KEY: z.string().optional(),
  NOVA_MEDIA_S3_FORCE_PATH_STYLE: bool.default(true),
  /**
   * Media uploaded before this instant (ISO 8601 or epoch ms) stays reachable on the deprecated
   * unauthenticated `/_matrix/media/v3/download|thumbnail`; later media only on
   * `/_matrix/client/v1/media/*`. Unset: frozen from day one, as the spec advises a new server.
   */
  NOVA_MEDIA_LEGACY_FREEZE: z.string().optional(),
  /** URL previews (`preview_url`). */
  NOVA_MEDIA_PREVIEWS: bool.default(true),
  /** Let previews fetch loopback addresses (tests only; private ranges stay blocked). */
  NOVA_MEDIA_PREVIEW_ALLOW_LOOPBACK: bool.default(false),
  NOVA_MEDIA_PREVIEW_MAX_BYTES: z.coerce
    .number()
    .int()
    .positive()
    .default(10 * MiB),
  NOVA_MEDIA_PREVIEW_TIMEOUT_MS: z.coerce.number().int().positive().default(10_000),
  /** ffmpeg and ffprobe binaries for the video pipeline. */
  NOVA_MEDIA_FFMPEG: z.string().default("ffmpeg"),
  NOVA_MEDIA_FFPROBE: z.string().default("ffprobe"),
  /** Whether an upload whose bytes are a video is queued for HLS transcoding on its own. */
  NOVA_MEDIA_TRANSCODE_UPLOADS: bool.default(true),
  /** Transcode workers in this process; 0 runs none (another process does the work). */
  NOVA_MEDIA_TRANSCODE_WORKERS: z.coerce.number().int().nonnegative().default(1),
  /** Signed media URLs for a CDN in front: base URL and HMAC-SHA256 secret, URL lifetime. */
  NOVA_CDN_BASE_URL: optionalUrl,
  NOVA_CDN_SECRET: z.string().min(16).optional(),
  NOVA_CDN_URL_TTL_S: z.coerce.number().int().positive().default(3600),
  /** `nova serve media`: its HTTP listener (`/_matrix/media/*`, `/_matrix/client/v1/media/*`). */
  MEDIA_HTTP_HOST: z.string().default("127.0.0.1"),
  MEDIA_HTTP_PORT: z.coerce.number().int().min(0).max(65535).default(8010),
  /** Where media's gRPC server listens, and where the other services reach it. */
  MEDIA_GRPC_LISTEN: z.string().default("127.0.0.1:50054"),
  MEDIA_GRPC_ADDRESS: z.string().default("127.0.0.1:50054"),
});

export type MediaEnv = z.infer<typeof mediaEnvSchema>;

export type S3Settings = {
  endpoint: string | undefined;
  bucket: string;
  region: string;
  accessKeyId: string | undefined;
  secretAccessKey: string | undefined;
  forcePathStyle: boolean;
};

export type MediaConfig = {
  media: {
    maxUploadBytes: number;
    quotaBytes: number;
    maxPending: number;
    unusedExpiryMs: number;
    storage: { kind: "filesystem"; dir: string | undefined } | ({ kind: "s3" } & S3Settings);
    /** Epoch ms; media created before it is served on the legacy endpoints. */
    legacyFreezeTs: number;
    previews: { enabled: boolean; allowLoopback: boolean; maxBytes: number; timeoutMs: number };
    ffmpeg: string;
    ffprobe: string;
    transcodeWorkers: number;
    transcodeUploads: boolean;
    cdn: { baseUrl: string; secret: string; ttlSeconds: number } | undefined;
    httpHost: string;
    httpPort: number;
    grpcListen: string;
    grpcAddress: string;
  };
};

function instant(name: string, value: string | undefined): number {
  if (value === undefined || value === "") return 0;
  const n = /^\d+$/.test(value) ? Number(value) : Date.parse(value);
  if (!Number.isFinite(n))
    throw new ConfigError(`invalid configuration: ${name}: not a date (ISO 8601 or epoch ms)`);
  return n;
}

export function mediaConfig(e: MediaEnv): MediaConfig {
  if (e.NOVA_MEDIA_STORAGE === "s3" && !e.NOVA_MEDIA_S3_BUCKET) {
    throw new ConfigError("invalid configuration: NOVA_MEDIA_S3_BUCKET: required with NOVA_MEDIA_STORAGE=s3");
  }
  if (e.NOVA_CDN_BASE_URL && !e.NOVA_CDN_SECRET) {
    throw new ConfigError("invalid configuration: NOVA_CDN_SECRET: required with NOVA_CDN_BASE_URL");
  }
  return {
    media: {
      maxUploadBytes: e.NOVA_MEDIA_MAX_UPLOAD,
      quotaBytes: e.NOVA_MEDIA_QUOTA_BYTES,
      maxPending: e.NOVA_MEDIA_MAX_PENDING,
      unusedExpiryMs: e.NOVA_MEDIA_UNUSED_EXPIRY_MS,
      storage:
        e.NOVA_MEDIA_STORAGE === "s3"
          ? {
              kind: "s3",
              endpoint: e.NOVA_MEDIA_S3_ENDPOINT,
              bucket: e.NOVA_MEDIA_S3_BUCKET ?? "",
              region: e.NOVA_MEDIA_S3_REGION,
              accessKeyId: e.NOVA_MEDIA_S3_ACCESS_KEY,
              secretAccessKey: e.NOVA_MEDIA_S3_SECRET_KEY,
              forcePathStyle: e.NOVA_MEDIA_S3_FORCE_PATH_STYLE,
            }
          : { kind: "filesystem", dir: e.NOVA_MEDIA_DIR },
      legacyFreezeTs: instant("NOVA_MEDIA_LEGACY_FREEZE", e.NOVA_MEDIA_LEGACY_FREEZE),
      previews: {
        enabled: e.NOVA_MEDIA_PREVIEWS,
        allowLoopback: e.NOVA_MEDIA_PREVIEW_ALLOW_LOOPBACK,
        maxBytes: e.NOVA_MEDIA_PREVIEW_MAX_BYTES,
        timeoutMs: e.NOVA_MEDIA_PREVIEW_TIMEOUT_MS,
      },
      ffmpeg: e.NOVA_MEDIA_FFMPEG,
      ffprobe: e.NOVA_MEDIA_FFPROBE,
      transcodeWorkers: e.NOVA_MEDIA_TRANSCODE_WORKERS,
      transcodeUploads: e.NOVA_MEDIA_TRANSCODE_UPLOADS,
      cdn:
        e.NOVA_CDN_BASE_URL && e.NOVA_CDN_SECRET
          ? {
              baseUrl: e.NOVA_CDN_BASE_URL.replace(/\/+$/, ""),
              secret: e.NOVA_CDN_SECRET,
              ttlSeconds: e.NOVA_CDN_URL_TTL_S,
            }
          : undefined,
      httpHost: e.MEDIA_HTTP_HOST,
      httpPort: e.MEDIA_HTTP_PORT,
      grpcListen: e.MEDIA_GRPC_LISTEN,
      grpcAddress: e.MEDIA_GRPC_ADDRESS,
    },
  };
}
