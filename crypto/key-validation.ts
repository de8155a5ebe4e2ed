import type { KeyObject } from "node:crypto";
import type { z } from "zod";
import { MatrixError } from "../companion-services/platform/errors.ts";
import { canonicalJson, signedPart } from "./canonical-json.ts";
import type { UploadedKey } from "./one-time-keys.repository.ts";
import type { deviceKeysSchema, keyObjectSchema } from "./schemas.ts";
import { ed25519Key, isKey25519, verifyJsonSignature } from "./signing.ts";
import type { JsonObject } from "./tables.ts";

/** `<algorithm>:<key id>` as used for one-time, fallback and device keys. */
const KEY_ID = /^([A-Za-z0-9_.-]{1,64}):([A-Za-z0-9_.+/=-]{1,128})$/;

export const invalidSignature = (msg: string) => new MatrixError(400, "M_INVALID_SIGNATURE", msg);

/**
 * Checks uploaded device keys: they are for the calling user and device, carry the device's
 * ed25519 and curve25519 keys, and are self-signed with that ed25519 key. Returns the keys as they
 * will be stored (without `unsigned`) and the device's signing key.
 */
export function validateDeviceKeys(
  keys: z.infer<typeof deviceKeysSchema>,
  userId: string,
  deviceId: string,
): { stored: JsonObject; signingKey: KeyObject } {
  if (keys.user_id !== userId || keys.device_id !== deviceId) {
    throw new MatrixError(
      400,
      "M_BAD_JSON",
      "device_keys.user_id/device_id must be the calling user and device",
    );
  }
  for (const id of Object.keys(keys.keys)) {
    if (!KEY_ID.test(id)) throw new MatrixError(400, "M_INVALID_PARAM", `malformed key id: ${id}`);
  }
  const ed = keys.keys[`ed25519:${deviceId}`];
  const curve = keys.keys[`curve25519:${deviceId}`];
  if (!isKey25519(ed) || !isKey25519(curve)) {
    throw new MatrixError(
      400,
      "M_INVALID_PARAM",
      `device_keys.keys needs ed25519:${deviceId} and curve25519:${deviceId} as 32-byte base64 keys`,
    );
  }
  const signingKey = ed25519Key(ed)!;
  const { unsigned: _u, ...stored } = keys;
  if (!verifyJsonSignature(stored, userId, `ed25519:${deviceId}`, signingKey)) {
    throw invalidSignature("device_keys are not signed by the device's ed25519 key");
  }
  return { stored, signingKey };
}

/**
 * Parses a `one_time_keys` or `fallback_keys` map. `signed_curve25519` keys must be 32-byte keys
 * signed by the device; other algorithms are kept opaque but their ids must be well formed.
 */
export function validateKeyMap(
  map: Record<string, z.infer<typeof keyObjectSchema>>,
  userId: string,
  deviceId: string,
  signingKey: KeyObject | null,
  what: string,
): UploadedKey[] {
  const out: UploadedKey[] = [];
  for (const [id, value] of Object.entries(map)) {
    const m = KEY_ID.exec(id);
    if (!m) throw new MatrixError(400, "M_INVALID_PARAM", `malformed ${what} id: ${id}`);
    const algorithm = m[1]!;
    if (algorithm === "signed_curve25519") {
      if (typeof value === "string" || !isKey25519(value.key)) {
        throw new MatrixError(400, "M_INVALID_PARAM", `${what} ${id}: key must be a 32-byte base64 key`);
      }
      if (!signingKey) {
        throw new MatrixError(400, "M_INVALID_PARAM", `${what} ${id}: upload device_keys before signed keys`);
      }
      if (!verifyJsonSignature(value, userId, `ed25519:${deviceId}`, signingKey)) {
        throw invalidSignature(`${what} ${id} is not signed by the device's ed25519 key`);
      }
    } else if (algorithm === "curve25519" && !isKey25519(value)) {
      throw new MatrixError(400, "M_INVALID_PARAM", `${what} ${id}: key must be a 32-byte base64 key`);
    }
    out.push({ algorithm, keyId: m[2]!, key: value as JsonObject | string });
  }
  return out;
}

/** Two key objects are the same key when they match apart from their signatures. */
export function sameKey(a: JsonObject | string, b: JsonObject | string): boolean {
  if (typeof a === "string" || typeof b === "string") return a === b;
  return canonicalJson(signedPart(a)) === canonicalJson(signedPart(b));
}
