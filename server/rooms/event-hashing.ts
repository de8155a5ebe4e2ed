import { createHash, createPrivateKey, createPublicKey, type KeyObject, sign, verify } from "node:crypto";
import { canonicalJson } from "./canonical-json.ts";
import { redactEvent } from "./redaction.ts";
import { randomEventId } from "./room-ids.ts";
import { type RoomVersion, type RoomVersionRules, rulesFor } from "./room-versions.ts";

type Json = Record<string, unknown>;

/** Unpadded standard base64, the spec's encoding for hashes, keys and signatures. */
export function unpaddedBase64(buf: Uint8Array): string {
  return Buffer.from(buf).toString("base64").replace(/=+$/, "");
}

function urlSafeUnpadded(buf: Uint8Array): string {
  return Buffer.from(buf).toString("base64url");
}

/**
 * Content hash (spec "Calculating the content hash"): sha256 of the event without unsigned,
 * signatures, hashes. `strict` is the room version's canonical JSON (floats refused from v6).
 */
export function contentHash(event: Json, strict = true): string {
  const { unsigned: _u, signatures: _s, hashes: _h, ...rest } = event;
  return unpaddedBase64(createHash("sha256").update(canonicalJson(rest, { strict })).digest());
}

/**
 * The bytes both the reference hash and the server's signature cover: the redacted event without
 * signatures and unsigned, in canonical JSON.
 */
export function redactedSigningBytes(event: Json, version: RoomVersion): string {
  const { signatures: _s, unsigned: _u, ...redacted } = redactEvent(event, version);
  return canonicalJson(redacted, { strict: rulesFor(version).strictCanonicalJson });
}

/**
 * Event id derived from the reference hash: v3 uses standard base64 (so ids may hold `/` and `+`
 * and must be escaped in URLs), v4+ the URL-safe alphabet; both unpadded.
 */
export function referenceHashEventId(
  signingBytes: string,
  format: "hash-base64" | "hash-urlsafe" = "hash-urlsafe",
): string {
  const digest = createHash("sha256").update(signingBytes).digest();
  return `$${format === "hash-base64" ? unpaddedBase64(digest) : urlSafeUnpadded(digest)}`;
}

/** An ed25519 server signing key (seed kept in the messaging database). */
export class SigningKey {
  readonly keyId: string;
  readonly publicKeyBase64: string;
  private readonly privateKey: KeyObject;
  private readonly publicKey: KeyObject;

  constructor(
    seed: Uint8Array,
    /** Key version, the part after `ed25519:`. */
    version: string,
  ) {
    if (seed.length !== 32) throw new Error("an ed25519 seed is 32 bytes");
    // PKCS#8 wrapper of a raw ed25519 seed (RFC 8410), so node's native ed25519 does the signing.
    const der = Buffer.concat([Buffer.from("302e020100300506032b657004220420", "hex"), Buffer.from(seed)]);
    this.privateKey = createPrivateKey({ key: der, format: "der", type: "pkcs8" });
    this.publicKey = createPublicKey(this.privateKey);
    const spki = this.publicKey.export({ format: "der", type: "spki" });
    this.publicKeyBase64 = unpaddedBase64(spki.subarray(spki.length - 32));
    this.keyId = `ed25519:${version}`;
  }

  signBytes(bytes: string): string {
    return unpaddedBase64(sign(null, Buffer.from(bytes, "utf8"), this.privateKey));
  }

  verifyBytes(bytes: string, signatureBase64: string): boolean {
    return verify(null, Buffer.from(bytes, "utf8"), this.publicKey, Buffer.from(signatureBase64, "base64"));
  }

  /** Signs a JSON object as the spec's "Signing JSON" does; returns a copy with `signatures` added. */
  signJson(serverName: string, obj: Json): Json {
    const { signatures, unsigned, ...rest } = obj;
    const sig = this.signBytes(canonicalJson(rest));
    const existing = (signatures ?? {}) as Record<string, Record<string, string>>;
    const out: Json = {
      ...rest,
      signatures: { ...existing, [serverName]: { ...(existing[serverName] ?? {}), [this.keyId]: sig } },
    };
    if (unsigned !== undefined) out.unsigned = unsigned;
    return out;
  }
}

/**
 * Adds the content hash and the server's signature to an unsigned PDU and derives its event id.
 * One canonical encoding of the redacted form serves both the signature and the reference hash.
 * In room versions 1 and 2 the id is random and part of the event (`event_id`, covered by the
 * hash and the signature); later versions derive it from the reference hash.
 */
export function hashAndSign<T extends Json>(
  pdu: T,
  version: RoomVersion,
  serverName: string,
  key: SigningKey,
): {
  pdu: T & { hashes: { sha256: string }; signatures: Record<string, Record<string, string>> };
  eventId: string;
} {
  const rules: RoomVersionRules = rulesFor(version);
  const randomId = rules.eventIdFormat === "random" ? randomEventId(serverName) : null;
  const withId: T = randomId ? { ...pdu, event_id: randomId } : pdu;
  const hashed = { ...withId, hashes: { sha256: contentHash(withId, rules.strictCanonicalJson) } };
  const bytes = redactedSigningBytes(hashed, version);
  return {
    pdu: { ...hashed, signatures: { [serverName]: { [key.keyId]: key.signBytes(bytes) } } },
    eventId:
      randomId ??
      referenceHashEventId(bytes, rules.eventIdFormat === "hash-base64" ? "hash-base64" : "hash-urlsafe"),
  };
}
