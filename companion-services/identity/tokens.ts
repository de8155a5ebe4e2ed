import { createHash, randomBytes } from "node:crypto";

/** Opaque bearer tokens: random, prefixed by kind; only their SHA-256 is stored. */
export function newToken(prefix: "nova_at" | "nova_rt"): string {
  return `${prefix}_${randomBytes(32).toString("base64url")}`;
}

export function hashToken(token: string): string {
  return createHash("sha256").update(token).digest("base64url");
}

export function newDeviceId(): string {
  return randomBytes(6).toString("base64url").replace(/[-_]/g, "X").toUpperCase().slice(0, 10);
}
