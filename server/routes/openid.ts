import { createHash, randomBytes } from "node:crypto";
import type { OpenIdRepository } from "./openid.repository.ts";

/** How long an OpenID token lives (Synapse: one hour). */
export const OPENID_TOKEN_TTL_MS = 3_600_000;

const hash = (token: string) => createHash("sha256").update(token).digest("base64url");

/** OpenID tokens (spec "OpenID"): issued to a user, exchanged by a third party for the user's id. */
export class OpenIdService {
  constructor(private readonly repo: OpenIdRepository) {}

  async issue(userId: string): Promise<{ accessToken: string; expiresInMs: number }> {
    const accessToken = randomBytes(24).toString("base64url");
    const now = Date.now();
    await this.repo.insert(hash(accessToken), userId, now + OPENID_TOKEN_TTL_MS, now);
    return { accessToken, expiresInMs: OPENID_TOKEN_TTL_MS };
  }

  /** The user a live token was issued to, or null (unknown or expired). */
  userOf(accessToken: string): Promise<string | null> {
    return this.repo.userOf(hash(accessToken), Date.now());
  }
}
