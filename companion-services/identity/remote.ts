import { createHash } from "node:crypto";
import { CacheMetrics } from "../platform/cache-metrics.ts";
import { EventConsumer, on } from "../platform/consumer.ts";
import { type EventBus, topicFor } from "../platform/event-bus.ts";
import type { AuthInfo } from "../platform/http/router.ts";
import type { Logger } from "../platform/logger.ts";
import type {
  Device,
  IdentityClient,
  LoginInput,
  LoginResult,
  RegisterInput,
  RegistrationToken,
  ThreepidClient,
  User,
} from "./client.ts";
import { deviceRevoked, IDENTITY_AGGREGATE } from "./events.ts";

export type RemoteIdentityOptions = {
  /** How long a verified token is trusted without asking identity again. */
  cacheTtlMs?: number;
  maxEntries?: number;
  onDeviceCreated?: (userId: string, deviceId: string) => Promise<void> | void;
  onDeviceRevoked?: (userId: string, deviceId: string) => Promise<void> | void;
};

type Entry = { auth: AuthInfo; at: number };

/**
 * The homeserver's view of a remote identity service (distributed mode): every call goes to the
 * inner client (gRPC), except VerifyToken, which is cached for a few seconds because it is on
 * every request's path. Revocation still takes effect at once: revocations made through this
 * client evict immediately, and revocations made anywhere else arrive as `device.revoked` events
 * (subscribeToRevocations), which evict the session's token. The TTL bounds anything else
 * (a refreshed token's predecessor). It also runs the homeserver's device hooks, as the
 * in-process IdentityService does through its callbacks.
 */
export class RemoteIdentity implements IdentityClient {
  /** 3PID calls have nothing to cache: they go straight to the inner client. */
  readonly threepids: ThreepidClient;
  private readonly cache = new Map<string, Entry>();
  private readonly cacheMetrics = new CacheMetrics("remote_identity_tokens");
  private readonly bySession = new Map<string, string>();
  private readonly ttl: number;
  private readonly max: number;
  hits = 0;
  misses = 0;

  constructor(
    private readonly inner: IdentityClient,
    private readonly opts: RemoteIdentityOptions = {},
  ) {
    this.threepids = inner.threepids;
    this.ttl = opts.cacheTtlMs ?? 10_000;
    this.max = opts.maxEntries ?? 100_000;
  }

  async verifyToken(accessToken: string): Promise<AuthInfo> {
    const key = createHash("sha256").update(accessToken).digest("base64url");
    const now = Date.now();
    const hit = this.cache.get(key);
    if (hit && now - hit.at < this.ttl) {
      this.hits++;
      this.cacheMetrics.hit();
      return hit.auth;
    }
    this.misses++;
    this.cacheMetrics.miss();
    const auth = await this.inner.verifyToken(accessToken);
    if (this.cache.size >= this.max) {
      this.cache.clear();
      this.bySession.clear();
    }
    this.cache.set(key, { auth, at: now });
    this.bySession.set(auth.sessionId, key);
    this.cacheMetrics.sized(this.cache.size);
    return auth;
  }

  /** Forgets the cached token of a session (called on device.revoked). */
  evictSession(sessionId: string): AuthInfo | undefined {
    const key = this.bySession.get(sessionId);
    if (!key) return undefined;
    this.bySession.delete(sessionId);
    const entry = this.cache.get(key);
    this.cache.delete(key);
    this.cacheMetrics.sized(this.cache.size);
    return entry?.auth;
  }

  /** Forgets every cached token of a user. */
  evictUser(userId: string): void {
    for (const [key, e] of this.cache) {
      if (e.auth.userId === userId) {
        this.cache.delete(key);
        this.bySession.delete(e.auth.sessionId);
      }
    }
    this.cacheMetrics.sized(this.cache.size);
  }

  evictDevice(userId: string, deviceId: string): void {
    for (const [key, e] of this.cache) {
      if (e.auth.userId === userId && e.auth.deviceId === deviceId) {
        this.cache.delete(key);
        this.bySession.delete(e.auth.sessionId);
      }
    }
    this.cacheMetrics.sized(this.cache.size);
  }

  /**
   * Consumes identity's device.revoked events. Each homeserver process needs every event (its
   * cache is its own), so the group is per process and starts at the latest offset.
   */
  subscribeToRevocations(bus: EventBus, logger: Logger, instance: string): EventConsumer<unknown> {
    return new EventConsumer<unknown>({
      service: "messaging",
      name: `token-cache.${instance}`,
      bus,
      logger,
      from: "latest",
      topics: [topicFor(IDENTITY_AGGREGATE)],
      handlers: {
        "device.revoked": on(deviceRevoked, async (_trx, p) => {
          this.evictSession(p.session_id);
          // A re-login on the same device id replaces the token, not the device.
          if (p.reason === "relogin") return;
          this.evictDevice(p.user_id, p.device_id);
          await this.opts.onDeviceRevoked?.(p.user_id, p.device_id);
        }),
      },
    });
  }

  async register(input: RegisterInput): Promise<LoginResult | { userId: string }> {
    const r = await this.inner.register(input);
    // An upgraded guest's cached tokens still say is_guest.
    if (input.upgradeGuestUserId !== undefined) this.evictUser(input.upgradeGuestUserId);
    if ("deviceId" in r && r.deviceId) await this.opts.onDeviceCreated?.(r.userId, r.deviceId);
    return r;
  }

  async login(input: LoginInput): Promise<LoginResult> {
    const r = await this.inner.login(input);
    if (!r.newDevice) this.evictDevice(r.userId, r.deviceId);
    if (r.newDevice) await this.opts.onDeviceCreated?.(r.userId, r.deviceId);
    return r;
  }

  async logout(sessionId: string): Promise<void> {
    const key = this.bySession.get(sessionId);
    const auth = key ? this.cache.get(key)?.auth : undefined;
    await this.inner.logout(sessionId);
    this.evictSession(sessionId);
    if (auth) await this.opts.onDeviceRevoked?.(auth.userId, auth.deviceId);
  }

  async logoutAll(userId: string): Promise<string[]> {
    return this.revoked(userId, await this.inner.logoutAll(userId));
  }

  async changePassword(
    userId: string,
    newPassword: string,
    opts: { logoutDevices: boolean; keepSessionId?: string },
  ): Promise<string[]> {
    return this.revoked(userId, await this.inner.changePassword(userId, newPassword, opts));
  }

  async deactivate(userId: string, opts: { erase: boolean }): Promise<string[]> {
    return this.revoked(userId, await this.inner.deactivate(userId, opts));
  }

  async revokeDevice(userId: string, deviceId: string): Promise<boolean> {
    const existed = await this.inner.revokeDevice(userId, deviceId);
    if (existed) await this.revoked(userId, [deviceId]);
    return existed;
  }

  private async revoked(userId: string, deviceIds: string[]): Promise<string[]> {
    for (const d of deviceIds) this.evictDevice(userId, d);
    for (const d of deviceIds) await this.opts.onDeviceRevoked?.(userId, d);
    return deviceIds;
  }

  isLocalpartAvailable(localpart: string): Promise<boolean> {
    return this.inner.isLocalpartAvailable(localpart);
  }
  refresh(
    refreshToken: string,
  ): Promise<{ accessToken: string; refreshToken: string; expiresInMs?: number }> {
    return this.inner.refresh(refreshToken);
  }
  checkPassword(userId: string, password: string): Promise<boolean> {
    return this.inner.checkPassword(userId, password);
  }
  getUser(userId: string): Promise<User | null> {
    return this.inner.getUser(userId);
  }
  getUsers(userIds: string[]): Promise<User[]> {
    return this.inner.getUsers(userIds);
  }
  setProfile(
    userId: string,
    profile: { displayname?: string | null; avatarUrl?: string | null },
  ): Promise<User> {
    return this.inner.setProfile(userId, profile);
  }
  listDevices(userId: string): Promise<Device[]> {
    return this.inner.listDevices(userId);
  }
  getDevice(userId: string, deviceId: string): Promise<Device | null> {
    return this.inner.getDevice(userId, deviceId);
  }
  updateDevice(userId: string, deviceId: string, displayName: string | null): Promise<void> {
    return this.inner.updateDevice(userId, deviceId, displayName);
  }
  createRegistrationToken(input: {
    token?: string;
    usesAllowed?: number | null;
    expiryTime?: number | null;
  }): Promise<RegistrationToken> {
    return this.inner.createRegistrationToken(input);
  }
  validateRegistrationToken(token: string): Promise<boolean> {
    return this.inner.validateRegistrationToken(token);
  }
  consumeRegistrationToken(token: string): Promise<void> {
    return this.inner.consumeRegistrationToken(token);
  }
}
