import { randomBytes } from "node:crypto";
import type { Kysely } from "kysely";
import { invalidParam, MatrixError } from "../platform/errors.ts";
import {
  EMAIL_TOKEN_TTL_MS,
  type EmailValidationInput,
  type EmailValidationStarted,
  type Threepid,
  type ValidatedThreepid,
} from "./client.ts";
import { EmailVerificationsRepository } from "./email-verifications.repository.ts";
import type { IdentityTables } from "./tables.ts";
import { ThreepidsRepository } from "./threepids.repository.ts";
import { hashToken } from "./tokens.ts";

/** Sessions nobody finished are dropped after a day. */
const SESSION_TTL_MS = 24 * 60 * 60_000;
const MAX_EMAIL_LENGTH = 500;

/**
 * Case-folds an email address as Synapse's `canonicalise_email` does (the local part folded, the
 * domain lowercased), so one mailbox is one 3PID whatever its spelling.
 */
export function canonicalEmail(raw: string): string {
  const address = raw.trim();
  const parts = address.split("@");
  if (
    parts.length !== 2 ||
    !parts[0] ||
    !parts[1] ||
    /\s/.test(address) ||
    address.length > MAX_EMAIL_LENGTH
  ) {
    throw invalidParam("Unable to parse email address");
  }
  return `${parts[0].toLowerCase()}@${parts[1].toLowerCase()}`;
}

const authFailed = (msg: string) => new MatrixError(400, "M_THREEPID_AUTH_FAILED", msg);

/**
 * Email validation sessions and the 3PIDs bound to accounts: identity's half of the 3PID
 * endpoints (the homeserver mails the tokens this hands out).
 */
export class ThreepidService {
  private readonly sessions: EmailVerificationsRepository;
  private readonly threepids: ThreepidsRepository;

  constructor(db: Kysely<IdentityTables>) {
    this.sessions = new EmailVerificationsRepository(db);
    this.threepids = new ThreepidsRepository(db);
  }

  async requestEmailValidation(input: EmailValidationInput): Promise<EmailValidationStarted> {
    const address = canonicalEmail(input.email);
    const owner = await this.threepids.ownerOf("email", address);
    if (input.purpose === "reset" && owner === undefined) {
      throw new MatrixError(400, "M_THREEPID_NOT_FOUND", "Email not found");
    }
    if (input.purpose !== "reset" && owner !== undefined) {
      throw new MatrixError(400, "M_THREEPID_IN_USE", "Email is already in use");
    }
    const now = Date.now();
    await this.sessions.deleteOlderThan(now - SESSION_TTL_MS);
    const existing = await this.sessions.pending(input.clientSecret, "email", address);
    // As Synapse: the same client secret and send attempt is a retry of a mail already sent.
    if (existing && input.sendAttempt <= existing.last_send_attempt) {
      return { sid: existing.sid, address, token: null };
    }
    const token = randomBytes(24).toString("base64url");
    const fresh = {
      last_send_attempt: input.sendAttempt,
      token_hash: hashToken(token),
      token_expires_at: now + EMAIL_TOKEN_TTL_MS,
      next_link: input.nextLink ?? null,
    };
    if (existing) {
      await this.sessions.resend(existing.sid, fresh);
      return { sid: existing.sid, address, token };
    }
    const sid = randomBytes(12).toString("base64url");
    await this.sessions.insert({
      sid,
      client_secret: input.clientSecret,
      medium: "email",
      address,
      created_at: now,
      validated_at: null,
      ...fresh,
    });
    return { sid, address, token };
  }

  async submitEmailValidation(input: {
    sid: string;
    clientSecret: string;
    token: string;
  }): Promise<{ nextLink: string | null }> {
    const row = await this.sessions.bySid(input.sid);
    if (!row) throw authFailed("Unknown session_id");
    if (row.client_secret !== input.clientSecret) {
      throw authFailed("This client_secret does not match the provided session_id");
    }
    if (hashToken(input.token) !== row.token_hash) {
      throw authFailed("Validation token not found or has expired");
    }
    const now = Date.now();
    // Following the link again after it worked is fine; an expired token is not.
    if (row.validated_at === null) {
      if (Number(row.token_expires_at) < now) {
        throw authFailed("This token has expired. Please request a new one");
      }
      await this.sessions.markValidated(row.sid, now);
    }
    return { nextLink: row.next_link };
  }

  async takeValidatedThreepid(input: {
    sid: string;
    clientSecret: string;
  }): Promise<ValidatedThreepid | null> {
    const row = await this.sessions.takeValidated(input.sid, input.clientSecret);
    if (!row || row.validated_at === null) return null;
    return { medium: row.medium, address: row.address, validatedAt: Number(row.validated_at) };
  }

  async addThreepid(userId: string, t: ValidatedThreepid): Promise<void> {
    const added = await this.threepids.add({
      user_id: userId,
      medium: t.medium,
      address: t.address,
      validated_at: t.validatedAt,
      added_at: Date.now(),
    });
    if (!added) throw new MatrixError(400, "M_THREEPID_IN_USE", "Email is already in use");
  }

  async listThreepids(userId: string): Promise<Threepid[]> {
    return (await this.threepids.byUser(userId)).map((r) => ({
      medium: r.medium,
      address: r.address,
      validatedAt: Number(r.validated_at),
      addedAt: Number(r.added_at),
    }));
  }

  async deleteThreepid(userId: string, medium: string, address: string): Promise<boolean> {
    const canonical = canonicalOrNull(medium, address);
    return canonical !== null && this.threepids.delete(userId, medium, canonical);
  }

  async userIdByThreepid(medium: string, address: string): Promise<string | null> {
    const canonical = canonicalOrNull(medium, address);
    return canonical === null ? null : ((await this.threepids.ownerOf(medium, canonical)) ?? null);
  }
}

/** A lookup by an address that cannot be an email matches nothing (rather than failing). */
function canonicalOrNull(medium: string, address: string): string | null {
  if (medium !== "email") return address;
  try {
    return canonicalEmail(address);
  } catch {
    return null;
  }
}
