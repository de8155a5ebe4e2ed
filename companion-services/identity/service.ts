import { randomBytes, randomUUID } from "node:crypto";
import { hash as argonHash, verify as argonVerify } from "@node-rs/argon2";
import type { Kysely, Transaction } from "kysely";
import { CacheMetrics } from "../platform/cache-metrics.ts";
import { forbidden, invalidParam, MatrixError, notFound, unknownToken } from "../platform/errors.ts";
import type { AuthInfo } from "../platform/http/router.ts";
import { appendEvents, type NewEvent } from "../platform/outbox/writer.ts";
import type {
  Device,
  IdentityClient,
  LoginInput,
  LoginResult,
  RegisterInput,
  RegistrationToken,
  User,
} from "./client.ts";
import { identityEvent } from "./events.ts";
import { LoginLimiter } from "./login-limiter.ts";
import { RegistrationTokensRepository } from "./registration-tokens.repository.ts";
import { type SessionRow, SessionsRepository, toDevice } from "./sessions.repository.ts";
import type { IdentityTables } from "./tables.ts";
import { ThreepidsRepository } from "./threepids.repository.ts";
import { ThreepidService } from "./threepids.ts";
import { hashToken, newDeviceId, newToken } from "./tokens.ts";
import { toUser, UsersRepository } from "./users.repository.ts";

export type IdentityOptions = {
  serverName: string;
  /** Lifetime of access tokens issued with a refresh token. */
  accessTokenTtlMs: number;
  loginFailuresPerMinute: number;
  /** Called after a device's sessions are revoked (the homeserver drops its keys, wakes syncs). */
  onDeviceRevoked?: (userId: string, deviceId: string) => Promise<void> | void;
  /** Called after a device logs in for the first time. */
  onDeviceCreated?: (userId: string, deviceId: string) => Promise<void> | void;
  /** The schema of identity's outbox (its NOTIFY channel); default "identity". */
  schema?: string;
};

const LOCALPART_RE = /^[a-z0-9._=\-/+]+$/;
const TOKEN_CACHE_TTL_MS = 60_000;
const TOKEN_CACHE_MAX = 100_000;
// OWASP's argon2id baseline: 19 MiB, 2 iterations.
const ARGON_OPTIONS = { memoryCost: 19456, timeCost: 2, parallelism: 1 };

type CachedToken = { auth: AuthInfo; expiresAt: number | null; cachedAt: number };

export class IdentityService implements IdentityClient {
  private readonly users: UsersRepository;
  private readonly sessions: SessionsRepository;
  private readonly tokens: RegistrationTokensRepository;
  private readonly limiter: LoginLimiter;
  readonly threepids: ThreepidService;
  /** tokenHash → resolved session; entries are dropped the moment a session is revoked. */
  private readonly tokenCache = new Map<string, CachedToken>();
  private readonly cacheMetrics = new CacheMetrics("identity_tokens");
  private readonly tokenHashBySession = new Map<string, string>();

  constructor(
    private readonly db: Kysely<IdentityTables>,
    private readonly opts: IdentityOptions,
  ) {
    this.users = new UsersRepository(db);
    this.sessions = new SessionsRepository(db);
    this.tokens = new RegistrationTokensRepository(db);
    this.limiter = new LoginLimiter(opts.loginFailuresPerMinute);
    this.threepids = new ThreepidService(db);
  }

  userIdOf(localpart: string): string {
    return `@${localpart}:${this.opts.serverName}`;
  }

  async isLocalpartAvailable(localpart: string): Promise<boolean> {
    this.checkLocalpart(localpart);
    return !(await this.users.localpartExists(localpart));
  }

  async register(input: RegisterInput): Promise<LoginResult | { userId: string }> {
    if (input.upgradeGuestUserId !== undefined) return this.upgradeGuest(input.upgradeGuestUserId, input);
    const localpart =
      input.localpart ?? (input.guest ? `guest-${randomBytes(6).toString("hex")}` : undefined);
    if (!localpart) throw invalidParam("username is required");
    this.checkLocalpart(localpart);
    const userId = this.userIdOf(localpart);
    const passwordHash = input.password ? await argonHash(input.password, ARGON_OPTIONS) : null;
    const now = Date.now();
    const result = await this.db.transaction().execute(async (trx) => {
      const inserted = await trx
        .insertInto("users")
        .values({
          user_id: userId,
          localpart,
          password_hash: passwordHash,
          displayname: localpart,
          avatar_url: null,
          is_admin: input.admin ?? false,
          is_guest: input.guest ?? false,
          deactivated: false,
          created_at: now,
        })
        .onConflict((oc) => oc.doNothing())
        .returning("user_id")
        .executeTakeFirst();
      if (!inserted) throw new MatrixError(400, "M_USER_IN_USE", "User ID already taken.");
      const events: NewEvent[] = [
        identityEvent("user.registered", {
          user_id: userId,
          localpart,
          is_guest: input.guest ?? false,
          created_at: now,
        }),
      ];
      if (input.inhibitLogin) {
        await this.publish(trx, events);
        return { userId };
      }
      const session = await this.createSession(trx, userId, input);
      events.push(identityEvent("device.created", { user_id: userId, device_id: session.deviceId }));
      await this.publish(trx, events);
      return session;
    });
    await this.users.logAuth(userId, "register", true, input.ip ?? null);
    if ("deviceId" in result && result.deviceId) await this.opts.onDeviceCreated?.(userId, result.deviceId);
    return result;
  }

  /** A guest registering with its own access token becomes a full account with the same user id. */
  private async upgradeGuest(
    guestUserId: string,
    input: RegisterInput,
  ): Promise<LoginResult | { userId: string }> {
    const guest = await this.users.byId(guestUserId);
    if (!guest?.is_guest || guest.deactivated) throw forbidden("Not a guest access token");
    if (input.localpart !== undefined && input.localpart !== guest.localpart) {
      // Synapse: a guest may take only its own user id.
      throw new MatrixError(400, "M_USER_IN_USE", "User ID already taken.");
    }
    const passwordHash = input.password ? await argonHash(input.password, ARGON_OPTIONS) : null;
    const result = await this.db.transaction().execute(async (trx) => {
      if (!(await new UsersRepository(trx).upgradeGuest(guestUserId, passwordHash))) {
        throw new MatrixError(400, "M_USER_IN_USE", "User ID already taken.");
      }
      const events: NewEvent[] = [identityEvent("user.guest_upgraded", { user_id: guestUserId })];
      if (input.inhibitLogin) {
        await this.publish(trx, events);
        return { userId: guestUserId };
      }
      const session = await this.createSession(trx, guestUserId, input);
      if (session.newDevice)
        events.push(identityEvent("device.created", { user_id: guestUserId, device_id: session.deviceId }));
      await this.publish(trx, events);
      return session;
    });
    // The guest's cached tokens still say is_guest: drop them so the next request reads the row.
    for (const s of await this.sessions.byUser(guestUserId)) this.evict(s.id);
    await this.users.logAuth(guestUserId, "guest_upgrade", true, input.ip ?? null);
    if ("deviceId" in result && result.newDevice)
      await this.opts.onDeviceCreated?.(guestUserId, result.deviceId);
    return result;
  }

  async deactivate(userId: string, opts: { erase: boolean }): Promise<string[]> {
    const now = Date.now();
    const rows = await this.db.transaction().execute(async (trx) => {
      if (!(await new UsersRepository(trx).deactivate(userId, opts.erase))) throw notFound("User not found");
      const deleted = await new SessionsRepository(trx).deleteAllForUser(userId);
      // As Synapse: a deactivated account's addresses are free for another account.
      await new ThreepidsRepository(trx).deleteAllForUser(userId);
      await this.publish(trx, [
        ...deleted.map((r) =>
          identityEvent("device.revoked", {
            user_id: r.user_id,
            device_id: r.device_id,
            session_id: r.id,
            reason: "deactivated",
          }),
        ),
        identityEvent("user.deactivated", { user_id: userId, erased: opts.erase, deactivated_at: now }),
      ]);
      return deleted;
    });
    for (const r of rows) this.evict(r.id);
    await this.users.logAuth(userId, "deactivate", true, null);
    for (const r of rows) await this.opts.onDeviceRevoked?.(r.user_id, r.device_id);
    return rows.map((r) => r.device_id);
  }

  async login(input: LoginInput): Promise<LoginResult> {
    const userId = input.user.startsWith("@") ? input.user : this.userIdOf(input.user.toLowerCase());
    const keys = [`user:${userId}`, ...(input.ip ? [`ip:${input.ip}`] : [])];
    this.limiter.check(keys);
    const row = await this.users.byId(userId);
    if (row?.deactivated) {
      await this.users.logAuth(userId, "login", false, input.ip ?? null);
      throw new MatrixError(403, "M_USER_DEACTIVATED", "This account has been deactivated");
    }
    const ok = row?.password_hash && (await argonVerify(row.password_hash, input.password));
    if (!ok) {
      this.limiter.fail(keys);
      await this.users.logAuth(row ? userId : null, "login", false, input.ip ?? null);
      throw forbidden("Invalid username or password");
    }
    this.limiter.succeed([`user:${userId}`]);
    const existing = input.deviceId ? await this.sessions.byDevice(userId, input.deviceId) : undefined;
    const result = await this.db.transaction().execute(async (trx) => {
      const session = await this.createSession(trx, userId, input);
      await this.publish(trx, [
        session.newDevice
          ? identityEvent("device.created", { user_id: userId, device_id: session.deviceId })
          : identityEvent("device.revoked", {
              user_id: userId,
              device_id: session.deviceId,
              session_id: existing?.id ?? "unknown",
              reason: "relogin",
            }),
      ]);
      return session;
    });
    if (existing) this.evict(existing.id);
    await this.users.logAuth(userId, "login", true, input.ip ?? null);
    if (result.newDevice) await this.opts.onDeviceCreated?.(userId, result.deviceId);
    return result;
  }

  async verifyToken(accessToken: string): Promise<AuthInfo> {
    const tokenHash = hashToken(accessToken);
    const now = Date.now();
    const cached = this.tokenCache.get(tokenHash);
    if (cached && now - cached.cachedAt < TOKEN_CACHE_TTL_MS) {
      this.cacheMetrics.hit();
      if (cached.expiresAt !== null && cached.expiresAt <= now) throw unknownToken(true);
      return cached.auth;
    }
    this.cacheMetrics.miss();
    const session = await this.sessions.byTokenHash(tokenHash);
    if (!session) throw unknownToken();
    const user = await this.users.byId(session.user_id);
    if (!user || user.deactivated) throw unknownToken();
    const expiresAt = session.expires_at === null ? null : Number(session.expires_at);
    if (expiresAt !== null && expiresAt <= now) throw unknownToken(true);
    const auth: AuthInfo = {
      userId: session.user_id,
      deviceId: session.device_id,
      sessionId: session.id,
      isGuest: user.is_guest,
      ...(user.shadow_banned ? { shadowBanned: true } : {}),
    };
    if (this.tokenCache.size >= TOKEN_CACHE_MAX) this.tokenCache.clear();
    this.tokenCache.set(tokenHash, { auth, expiresAt, cachedAt: now });
    this.tokenHashBySession.set(session.id, tokenHash);
    this.cacheMetrics.sized(this.tokenCache.size);
    return auth;
  }

  async refresh(
    refreshToken: string,
  ): Promise<{ accessToken: string; refreshToken: string; expiresInMs?: number }> {
    const oldHash = hashToken(refreshToken);
    const accessToken = newToken("nova_at");
    const nextRefresh = newToken("nova_rt");
    const ttl = this.opts.accessTokenTtlMs || 300_000;
    const now = Date.now();
    const sessionId = await this.db.transaction().execute(async (trx) => {
      // Marking it used in the same statement that reads it makes each refresh token single-use.
      const used = await trx
        .updateTable("refresh_tokens")
        .set({ used_at: now })
        .where("token_hash", "=", oldHash)
        .where("used_at", "is", null)
        .returning("session_id")
        .executeTakeFirst();
      if (!used) throw unknownToken();
      await this.sessions.rotateToken(trx, used.session_id, hashToken(accessToken), now + ttl);
      await trx
        .insertInto("refresh_tokens")
        .values({
          token_hash: hashToken(nextRefresh),
          session_id: used.session_id,
          created_at: now,
          used_at: null,
        })
        .execute();
      return used.session_id;
    });
    this.evict(sessionId);
    return { accessToken, refreshToken: nextRefresh, expiresInMs: ttl };
  }

  async logout(sessionId: string): Promise<void> {
    const [row] = await this.revokeSessions("logout", (repo) => repo.deleteById(sessionId));
    this.evict(sessionId);
    if (row) await this.opts.onDeviceRevoked?.(row.user_id, row.device_id);
  }

  async logoutAll(userId: string): Promise<string[]> {
    const rows = await this.revokeSessions("logout_all", (repo) => repo.deleteAllForUser(userId));
    for (const r of rows) this.evict(r.id);
    for (const r of rows) await this.opts.onDeviceRevoked?.(r.user_id, r.device_id);
    return rows.map((r) => r.device_id);
  }

  async checkPassword(userId: string, password: string): Promise<boolean> {
    const keys = [`user:${userId}`];
    this.limiter.check(keys);
    const row = await this.users.byId(userId);
    const ok = Boolean(row?.password_hash && (await argonVerify(row.password_hash, password)));
    if (!ok) this.limiter.fail(keys);
    return ok;
  }

  async changePassword(
    userId: string,
    newPassword: string,
    opts: { logoutDevices: boolean; keepSessionId?: string },
  ): Promise<string[]> {
    await this.users.setPasswordHash(userId, await argonHash(newPassword, ARGON_OPTIONS));
    await this.users.logAuth(userId, "password_change", true, null);
    if (!opts.logoutDevices) return [];
    const rows = await this.revokeSessions("password_change", (repo) =>
      repo.deleteAllForUser(userId, opts.keepSessionId),
    );
    for (const r of rows) this.evict(r.id);
    for (const r of rows) await this.opts.onDeviceRevoked?.(r.user_id, r.device_id);
    return rows.map((r) => r.device_id);
  }

  async getUser(userId: string): Promise<User | null> {
    const r = await this.users.byId(userId);
    return r ? toUser(r) : null;
  }

  async getUsers(userIds: string[]): Promise<User[]> {
    return (await this.users.byIds(userIds)).map(toUser);
  }

  async setProfile(
    userId: string,
    profile: { displayname?: string | null; avatarUrl?: string | null },
  ): Promise<User> {
    const patch: { displayname?: string | null; avatar_url?: string | null } = {};
    if (profile.displayname !== undefined) patch.displayname = profile.displayname;
    if (profile.avatarUrl !== undefined) patch.avatar_url = profile.avatarUrl;
    // The change and its event in one transaction: search (and anyone else) learns every name.
    const row = Object.keys(patch).length
      ? await this.db.transaction().execute(async (trx) => {
          const r = await new UsersRepository(trx).setProfile(userId, patch);
          if (r)
            await this.publish(trx, [
              identityEvent("user.profile_updated", {
                user_id: userId,
                displayname: r.displayname,
                avatar_url: r.avatar_url,
              }),
            ]);
          return r;
        })
      : await this.users.byId(userId);
    if (!row) throw notFound("User not found");
    return toUser(row);
  }

  async listDevices(userId: string): Promise<Device[]> {
    return (await this.sessions.byUser(userId)).map(toDevice);
  }

  async getDevice(userId: string, deviceId: string): Promise<Device | null> {
    const r = await this.sessions.byDevice(userId, deviceId);
    return r ? toDevice(r) : null;
  }

  async updateDevice(userId: string, deviceId: string, displayName: string | null): Promise<void> {
    if (!(await this.sessions.setDisplayName(userId, deviceId, displayName)))
      throw notFound("Unknown device");
  }

  async revokeDevice(userId: string, deviceId: string): Promise<boolean> {
    const [row] = await this.revokeSessions("deleted", (repo) => repo.deleteDevice(userId, deviceId));
    if (!row) return false;
    this.evict(row.id);
    await this.opts.onDeviceRevoked?.(userId, deviceId);
    return true;
  }

  async touchSession(sessionId: string, ip: string | null): Promise<void> {
    await this.sessions.touch(sessionId, ip, Date.now());
  }

  async createRegistrationToken(input: {
    token?: string;
    usesAllowed?: number | null;
    expiryTime?: number | null;
  }): Promise<RegistrationToken> {
    const token = input.token ?? randomBytes(12).toString("base64url");
    if (!/^[A-Za-z0-9._~-]{1,64}$/.test(token))
      throw invalidParam("token must be 1-64 characters of [A-Za-z0-9._~-]");
    const created = await this.tokens.insert(token, input.usesAllowed ?? null, input.expiryTime ?? null);
    if (!created) throw new MatrixError(400, "M_INVALID_PARAM", "Token already exists");
    return created;
  }

  async validateRegistrationToken(token: string): Promise<boolean> {
    const row = await this.tokens.get(token);
    if (!row) return false;
    if (row.expiry_time !== null && Number(row.expiry_time) < Date.now()) return false;
    if (row.uses_allowed !== null && row.completed >= row.uses_allowed) return false;
    return true;
  }

  async consumeRegistrationToken(token: string): Promise<void> {
    if (!(await this.tokens.consume(token)))
      throw new MatrixError(401, "M_FORBIDDEN", "Registration token is no longer valid");
  }

  private async createSession(
    trx: Parameters<SessionsRepository["upsertForDevice"]>[0],
    userId: string,
    input: Pick<LoginInput, "deviceId" | "initialDeviceDisplayName" | "refreshToken" | "ip">,
  ): Promise<LoginResult> {
    const { deviceId, initialDeviceDisplayName: displayName, ip } = input;
    const withRefresh = input.refreshToken ?? false;
    const device = deviceId ?? newDeviceId();
    const accessToken = newToken("nova_at");
    const now = Date.now();
    const ttl = withRefresh ? this.opts.accessTokenTtlMs || 300_000 : null;
    const id = randomUUID();
    const { replaced } = await this.sessions.upsertForDevice(trx, {
      id,
      user_id: userId,
      device_id: device,
      token_hash: hashToken(accessToken),
      display_name: displayName ?? null,
      created_at: now,
      expires_at: ttl === null ? null : now + ttl,
      last_seen_at: now,
      last_seen_ip: ip ?? null,
    });
    let refreshToken: string | undefined;
    if (withRefresh) {
      refreshToken = newToken("nova_rt");
      await trx
        .insertInto("refresh_tokens")
        .values({ token_hash: hashToken(refreshToken), session_id: id, created_at: now, used_at: null })
        .execute();
    }
    return {
      userId,
      deviceId: device,
      accessToken,
      newDevice: replaced === undefined,
      ...(refreshToken ? { refreshToken, expiresInMs: ttl ?? undefined } : {}),
    };
  }

  /** Deletes sessions and publishes device.revoked for each, in one transaction. */
  private async revokeSessions(
    reason: "logout" | "logout_all" | "deleted" | "password_change",
    del: (repo: SessionsRepository) => Promise<SessionRow | SessionRow[] | undefined>,
  ): Promise<SessionRow[]> {
    return this.db.transaction().execute(async (trx) => {
      const deleted = await del(new SessionsRepository(trx));
      const rows = deleted === undefined ? [] : Array.isArray(deleted) ? deleted : [deleted];
      await this.publish(
        trx,
        rows.map((r) =>
          identityEvent("device.revoked", {
            user_id: r.user_id,
            device_id: r.device_id,
            session_id: r.id,
            reason,
          }),
        ),
      );
      return rows;
    });
  }

  /** Identity's events go to its own outbox, in the transaction of the change they describe. */
  private async publish(trx: Transaction<IdentityTables>, events: NewEvent[]): Promise<void> {
    await appendEvents(trx, this.opts.schema ?? "identity", events);
  }

  /** Drops the user's cached tokens: an admin changed what they carry (shadow ban, deactivation). */
  async forgetTokensOf(userId: string): Promise<void> {
    for (const s of await this.sessions.byUser(userId)) this.evict(s.id);
  }

  private evict(sessionId: string): void {
    const h = this.tokenHashBySession.get(sessionId);
    if (h) this.tokenCache.delete(h);
    this.cacheMetrics.sized(this.tokenCache.size);
    this.tokenHashBySession.delete(sessionId);
  }

  private checkLocalpart(localpart: string): void {
    if (!LOCALPART_RE.test(localpart) || localpart.length > 200) {
      throw new MatrixError(400, "M_INVALID_USERNAME", "User ID may only contain a-z, 0-9, . _ = - / +");
    }
  }
}
