import type { Redis } from "ioredis";
import {
  type RateLimiterAbstract,
  RateLimiterMemory,
  RateLimiterRedis,
  RateLimiterRes,
} from "rate-limiter-flexible";
import { limitExceeded, MatrixError } from "../platform/errors.ts";

/**
 * Per-user upload limits: a rate on uploads and `create`s (rate-limiter-flexible; in Redis when
 * REDIS_URL is set, so every media replica counts against the same bucket, else in this process),
 * and the storage quota.
 */
export class UploadLimits {
  private readonly limiter: RateLimiterAbstract;

  constructor(
    private readonly settings: { uploadRate: number; uploadBurst: number; quotaBytes: number },
    redis?: Redis,
  ) {
    // A window of `burst` points refilled over burst/rate seconds: the burst is allowed at once,
    // the rate is the long-run average.
    const window = {
      points: settings.uploadBurst,
      duration: Math.max(1, Math.ceil(settings.uploadBurst / settings.uploadRate)),
    };
    this.limiter = redis
      ? new RateLimiterRedis({
          ...window,
          storeClient: redis,
          keyPrefix: "nova_media_upload",
          // Redis down must not stop uploads: this process's own bucket takes over.
          insuranceLimiter: new RateLimiterMemory(window),
        })
      : new RateLimiterMemory(window);
  }

  /** 429 M_LIMIT_EXCEEDED with Retry-After once the user's bucket is empty. */
  async take(userId: string): Promise<void> {
    try {
      await this.limiter.consume(userId);
    } catch (res) {
      if (res instanceof RateLimiterRes) throw limitExceeded(Math.max(1, res.msBeforeNext));
      throw res;
    }
  }

  /** Whether a quota is set (NOVA_MEDIA_QUOTA_BYTES > 0): without one, nobody need sum a user's bytes. */
  get hasQuota(): boolean {
    return this.settings.quotaBytes > 0;
  }

  /** 403 M_RESOURCE_LIMIT_EXCEEDED when `adding` more bytes would pass the user's quota. */
  checkQuota(used: number, adding: number): void {
    const quota = this.settings.quotaBytes;
    if (quota > 0 && used + adding > quota) {
      throw new MatrixError(403, "M_RESOURCE_LIMIT_EXCEEDED", "Media storage quota exceeded", {
        limit_type: "media_quota",
      });
    }
  }
}
