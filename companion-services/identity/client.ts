import type { AuthInfo } from "../platform/http/router.ts";

/** A user as other services see it (never the password hash). */
export type User = {
  userId: string;
  localpart: string;
  displayname: string | null;
  avatarUrl: string | null;
  isAdmin: boolean;
  isGuest: boolean;
  deactivated: boolean;
  /** Deactivated with `erase`: rooms serve its earlier events redacted to later members. */
  erased: boolean;
  createdAt: number;
};

export type Device = {
  deviceId: string;
  displayName: string | null;
  lastSeenIp: string | null;
  lastSeenTs: number | null;
};

export type LoginResult = {
  userId: string;
  deviceId: string;
  accessToken: string;
  refreshToken?: string;
  expiresInMs?: number;
  /** True when this login created a device that did not exist before. */
  newDevice: boolean;
};

export type RegisterInput = {
  localpart?: string;
  password?: string;
  deviceId?: string;
  initialDeviceDisplayName?: string;
  inhibitLogin?: boolean;
  refreshToken?: boolean;
  guest?: boolean;
  /**
   * Upgrades this guest (its user id, resolved from its access token) to a full account instead of
   * creating one: the user id is kept; `localpart`, when given, must be the guest's own.
   */
  upgradeGuestUserId?: string;
  admin?: boolean;
  ip?: string;
};

export type LoginInput = {
  /** Localpart or full user id. */
  user: string;
  password: string;
  deviceId?: string;
  initialDeviceDisplayName?: string;
  refreshToken?: boolean;
  ip?: string;
};

export type RegistrationToken = {
  token: string;
  usesAllowed: number | null;
  pending: number;
  completed: number;
  expiryTime: number | null;
};

/** A third-party identifier bound to an account (only medium "email" today). */
export type Threepid = { medium: string; address: string; validatedAt: number; addedAt: number };
/** An address whose owner followed the link of a validation mail. */
export type ValidatedThreepid = { medium: string; address: string; validatedAt: number };

/**
 * What a requestToken endpoint asks: "register" and "add" refuse an address bound to an account
 * (M_THREEPID_IN_USE), "reset" one bound to none (M_THREEPID_NOT_FOUND).
 */
export type EmailValidationInput = {
  purpose: "register" | "add" | "reset";
  clientSecret: string;
  email: string;
  sendAttempt: number;
  nextLink?: string;
};
/** A mailed token works for an hour: Synapse's `email_validation_token_lifetime` default. */
export const EMAIL_TOKEN_TTL_MS = 60 * 60_000;

/** `token` is the one to mail, or null when this send attempt was already made (send nothing). */
export type EmailValidationStarted = { sid: string; address: string; token: string | null };

/**
 * The identity service as every other service calls it: in-process in all-in-one mode, over gRPC in
 * distributed mode. Failures are MatrixErrors (M_FORBIDDEN, M_USER_IN_USE, M_UNKNOWN_TOKEN…).
 */
/** Email validation sessions and the addresses bound to accounts (identity's 3PID tables). */
export interface ThreepidClient {
  /** Opens (or reuses) an email validation session; throws M_INVALID_PARAM for a bad address. */
  requestEmailValidation(input: EmailValidationInput): Promise<EmailValidationStarted>;
  /** The mailed link's token: marks the session validated; M_THREEPID_AUTH_FAILED otherwise. */
  submitEmailValidation(input: {
    sid: string;
    clientSecret: string;
    token: string;
  }): Promise<{ nextLink: string | null }>;
  /** Takes a validated session (each is used once); null when there is none for these creds. */
  takeValidatedThreepid(input: { sid: string; clientSecret: string }): Promise<ValidatedThreepid | null>;
  /** Binds a validated address to an account; M_THREEPID_IN_USE when another account holds it. */
  addThreepid(userId: string, threepid: ValidatedThreepid): Promise<void>;
  listThreepids(userId: string): Promise<Threepid[]>;
  /** Unbinds an address from the account; false when it was not bound to it. */
  deleteThreepid(userId: string, medium: string, address: string): Promise<boolean>;
  /** The account an address is bound to (emails are compared case-folded). */
  userIdByThreepid(medium: string, address: string): Promise<string | null>;
}

export interface IdentityClient {
  register(input: RegisterInput): Promise<LoginResult | { userId: string; deviceId?: undefined }>;
  isLocalpartAvailable(localpart: string): Promise<boolean>;
  login(input: LoginInput): Promise<LoginResult>;
  /** On every request's path; cached, and revocation takes effect at once. */
  verifyToken(accessToken: string): Promise<AuthInfo>;
  refresh(refreshToken: string): Promise<{ accessToken: string; refreshToken: string; expiresInMs?: number }>;
  logout(sessionId: string): Promise<void>;
  logoutAll(userId: string): Promise<string[]>;
  checkPassword(userId: string, password: string): Promise<boolean>;
  /**
   * Deactivates an account for good: every session and device goes, login answers
   * M_USER_DEACTIVATED and the user id is never registered again. With `erase` the profile is
   * cleared too. Publishes `user.deactivated`. Returns the revoked device ids.
   */
  deactivate(userId: string, opts: { erase: boolean }): Promise<string[]>;
  changePassword(
    userId: string,
    newPassword: string,
    opts: { logoutDevices: boolean; keepSessionId?: string },
  ): Promise<string[]>;
  getUser(userId: string): Promise<User | null>;
  getUsers(userIds: string[]): Promise<User[]>;
  setProfile(
    userId: string,
    profile: { displayname?: string | null; avatarUrl?: string | null },
  ): Promise<User>;
  listDevices(userId: string): Promise<Device[]>;
  getDevice(userId: string, deviceId: string): Promise<Device | null>;
  updateDevice(userId: string, deviceId: string, displayName: string | null): Promise<void>;
  /** Deletes a device: revokes its sessions and refresh tokens. Returns whether it existed. */
  revokeDevice(userId: string, deviceId: string): Promise<boolean>;
  createRegistrationToken(input: {
    token?: string;
    usesAllowed?: number | null;
    expiryTime?: number | null;
  }): Promise<RegistrationToken>;
  validateRegistrationToken(token: string): Promise<boolean>;
  /** Consumes one use of a registration token (after the registration it allowed). */
  consumeRegistrationToken(token: string): Promise<void>;
  /** Email validation and the accounts' bound addresses (3PIDs). */
  readonly threepids: ThreepidClient;
}
