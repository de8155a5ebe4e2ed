import type { Redis } from "ioredis";
import type { RateLimiterAbstract } from "rate-limiter-flexible";
import { MatrixError } from "../platform/errors.ts";
import { bucketLimiter, takePoint } from "../platform/rate-limit.ts";

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
    // The platform's bucket (companion-services/platform/rate-limit.ts), as the homeserver's limits.
    this.limiter = bucketLimiter(
      { rate: settings.uploadRate, burst: settings.uploadBurst },
      "nova_media_upload",
      redis,
    );
  }

  /** 429 M_LIMIT_EXCEEDED with Retry-After once the user's bucket is empty. */
  async take(userId: string): Promise<void> {
    await takePoint(this.limiter, userId);
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
