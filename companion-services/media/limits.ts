import type { Redis } from "ioredis";
import type { RateLimiterAbstract } from "rate-limiter-flexible";
import { MatrixError } from "../platform/errors.ts";
import { bucketLimiter, type LimitSpec, takePoint } from "../platform/rate-limit.ts";

/** NOVA_RATELIMIT_MEDIA_UPLOAD (per user) and NOVA_RATELIMIT_MEDIA_UPLOAD_IP; null is off. */
export type UploadLimitSettings = { user: LimitSpec | null; ip: LimitSpec | null; quotaBytes: number };

/** Who is never rate limited: NOVA_RATELIMIT_EXEMPT users and server admins (as the homeserver's limits). */
export type UploadExemptions = {
  users: ReadonlySet<string>;
  isAdmin: (userId: string) => Promise<boolean>;
};

/** How long a user's admin flag is trusted once looked up (only looked up when over a limit). */
const ADMIN_CACHE_MS = 60_000;

/**
 * Upload limits: per-user and per-IP buckets on uploads, `create`s and async PUTs (the
 * `media_upload` action of docs/operations.md; rate-limiter-flexible, in Redis when REDIS_URL is
 * set so every media replica counts against the same bucket, else in this process), and the
 * storage quota. They live in media, not in the homeserver's limiter, so `nova serve media`
 * applies them as `npm start` does.
 */
export class UploadLimits {
  private readonly user: RateLimiterAbstract | null;
  private readonly ip: RateLimiterAbstract | null;
  private readonly adminUntil = new Map<string, { admin: boolean; until: number }>();

  constructor(
    private readonly settings: UploadLimitSettings,
    redis?: Redis,
    private readonly exempt?: UploadExemptions,
  ) {
    // The platform's bucket (companion-services/platform/rate-limit.ts), as the homeserver's limits.
    this.user = settings.user ? bucketLimiter(settings.user, "nova_rl_media_upload_user", redis) : null;
    this.ip = settings.ip ? bucketLimiter(settings.ip, "nova_rl_media_upload_ip", redis) : null;
  }

  /** 429 M_LIMIT_EXCEEDED with retry_after_ms once the user's or the address's bucket is empty. */
  async take(userId: string, ip?: string): Promise<void> {
    try {
      if (this.user) await takePoint(this.user, userId);
      if (this.ip && ip) await takePoint(this.ip, ip);
    } catch (err) {
      if (err instanceof MatrixError && (await this.isExempt(userId))) return;
      throw err;
    }
  }

  private async isExempt(userId: string): Promise<boolean> {
    if (!this.exempt) return false;
    if (this.exempt.users.has(userId)) return true;
    const now = Date.now();
    const known = this.adminUntil.get(userId);
    if (known && known.until > now) return known.admin;
    const admin = await this.exempt.isAdmin(userId);
    // Bounded: only users who hit a limit are remembered, and the oldest go first.
    if (this.adminUntil.size >= 10_000) this.adminUntil.delete(this.adminUntil.keys().next().value!);
    this.adminUntil.set(userId, { admin, until: now + ADMIN_CACHE_MS });
    return admin;
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
