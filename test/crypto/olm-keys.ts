import { generateKeyPairSync, type KeyObject, sign } from "node:crypto";
import { canonicalJson, signedPart } from "../../crypto/canonical-json.ts";

/** Unpadded standard base64, as Matrix writes keys and signatures. */
export function b64(buf: Buffer | Uint8Array): string {
  return Buffer.from(buf).toString("base64").replace(/=+$/, "");
}

function rawPublic(key: KeyObject): Buffer {
  const jwk = key.export({ format: "jwk" }) as { x: string };
  return Buffer.from(jwk.x, "base64url");
}

/** An Ed25519 signing key with Matrix JSON signing. */
export class SigningKey {
  readonly publicKey: string;
  private readonly privateKey: KeyObject;
  constructor() {
    const pair = generateKeyPairSync("ed25519");
    this.privateKey = pair.privateKey;
    this.publicKey = b64(rawPublic(pair.publicKey));
  }
  /** Adds `signatures[userId][keyId]` over the canonical JSON of the object. */
  sign<T extends Record<string, unknown>>(obj: T, userId: string, keyId: string): T {
    const sig = b64(sign(null, Buffer.from(canonicalJson(signedPart(obj))), this.privateKey));
    const sigs = { ...((obj.signatures as Record<string, Record<string, string>>) ?? {}) };
    sigs[userId] = { ...(sigs[userId] ?? {}), [keyId]: sig };
    return { ...obj, signatures: sigs };
  }
}

/** A random Curve25519 public key in Matrix base64. */
export function curveKey(): string {
  return b64(rawPublic(generateKeyPairSync("x25519").publicKey));
}

/**
 * A device's keys as an Olm client would make them: signed device keys, signed one-time keys and
 * fallback keys (real Ed25519 signatures; the Curve25519 keys are real public keys).
 */
export class TestDevice {
  readonly ed = new SigningKey();
  readonly curve = curveKey();
  private nextKeyId = 1;
  constructor(
    readonly userId: string,
    readonly deviceId: string,
  ) {}

  deviceKeys(extra: Record<string, unknown> = {}): Record<string, unknown> {
    return this.ed.sign(
      {
        user_id: this.userId,
        device_id: this.deviceId,
        algorithms: ["m.olm.v1.curve25519-aes-sha2", "m.megolm.v1.aes-sha2"],
        keys: {
          [`ed25519:${this.deviceId}`]: this.ed.publicKey,
          [`curve25519:${this.deviceId}`]: this.curve,
        },
        ...extra,
      },
      this.userId,
      `ed25519:${this.deviceId}`,
    );
  }

  signedKey(fallback = false): Record<string, unknown> {
    return this.ed.sign(
      { key: curveKey(), ...(fallback ? { fallback: true } : {}) },
      this.userId,
      `ed25519:${this.deviceId}`,
    );
  }

  oneTimeKeys(n: number): Record<string, Record<string, unknown>> {
    const out: Record<string, Record<string, unknown>> = {};
    for (let i = 0; i < n; i++) out[`signed_curve25519:${this.keyId()}`] = this.signedKey();
    return out;
  }

  fallbackKey(): Record<string, Record<string, unknown>> {
    return { [`signed_curve25519:${this.keyId()}`]: this.signedKey(true) };
  }

  private keyId(): string {
    return b64(Buffer.from([0, 0, this.nextKeyId >> 8, this.nextKeyId++ & 255]));
  }
}
