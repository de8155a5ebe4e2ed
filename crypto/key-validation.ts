import type { KeyObject } from "node:crypto";
import type { z } from "zod";
import { MatrixError } from "../companion-services/platform/errors.ts";
import { canonicalJson, signedPart } from "./canonical-json.ts";
import type { UploadedKey } from "./one-time-keys.repository.ts";
import type { deviceKeysSchema, keyObjectSchema } from "./schemas.ts";
import { ed25519Key, verifyJsonSignature } from "./signing.ts";
import type { JsonObject } from "./tables.ts";

/** `<algorithm>:<key id>` as used for one-time, fallback and device keys. */
const KEY_ID = /^([A-Za-z0-9_.-]{1,64}):([A-Za-z0-9_.+/=-]{1,128})$/;

export const invalidSignature = (msg: string) => new MatrixError(400, "M_INVALID_SIGNATURE", msg);

/**
 * What the server knows of a device that has uploaded device keys: its Ed25519 signing key, or
 * null when the device's `ed25519:<device>` string is not one the server can check signatures with.
 * A device without device keys has no signer at all.
 */
export type DeviceSigner = { key: KeyObject | null };

/** The signer of stored device keys. */
export function signerOf(deviceKeys: JsonObject, deviceId: string): DeviceSigner {
  const ed = (deviceKeys.keys as Record<string, unknown> | undefined)?.[`ed25519:${deviceId}`];
  return { key: typeof ed === "string" ? ed25519Key(ed) : null };
}

/**
 * Checks uploaded device keys: they are for the calling user and device, and their key ids are
 * well formed. The spec does not require key strings to decode as base64 (Synapse stores them as
 * given), so they are opaque; but when the device's ed25519 key is a 32-byte Ed25519 key, the
 * keys must be self-signed with it. Returns the keys as they will be stored (without `unsigned`)
 * and the device's signer.
 */
export function validateDeviceKeys(
  keys: z.infer<typeof deviceKeysSchema>,
  userId: string,
  deviceId: string,
): { stored: JsonObject; signer: DeviceSigner } {
  if (keys.user_id !== userId || keys.device_id !== deviceId) {
    throw new MatrixError(
      400,
      "M_BAD_JSON",
      "device_keys.user_id/device_id must be the calling user and device",
    );
  }
  for (const id of Object.keys(keys.keys ?? {})) {
    if (!KEY_ID.test(id)) throw new MatrixError(400, "M_INVALID_PARAM", `malformed key id: ${id}`);
  }
  const { unsigned: _u, ...stored } = keys;
  const signer = signerOf(stored, deviceId);
  if (signer.key && !verifyJsonSignature(stored, userId, `ed25519:${deviceId}`, signer.key)) {
    throw invalidSignature("device_keys are not signed by the device's ed25519 key");
  }
  return { stored, signer };
}

/**
 * Parses a `one_time_keys` or `fallback_keys` map. Key strings are opaque (as Synapse takes them);
 * ids must be well formed. A `signed_curve25519` key is a key object, uploaded by a device with
 * device keys, and signed by the device's ed25519 key when the server can check that signature.
 */
export function validateKeyMap(
  map: Record<string, z.infer<typeof keyObjectSchema>>,
  userId: string,
  deviceId: string,
  signer: DeviceSigner | null,
  what: string,
): UploadedKey[] {
  const out: UploadedKey[] = [];
  for (const [id, value] of Object.entries(map)) {
    const m = KEY_ID.exec(id);
    if (!m) throw new MatrixError(400, "M_INVALID_PARAM", `malformed ${what} id: ${id}`);
    const algorithm = m[1]!;
    if (algorithm === "signed_curve25519") {
      if (typeof value === "string") {
        throw new MatrixError(400, "M_INVALID_PARAM", `${what} ${id}: must be a key object`);
      }
      if (!signer) {
        throw new MatrixError(400, "M_INVALID_PARAM", `${what} ${id}: upload device_keys before signed keys`);
      }
      if (signer.key && !verifyJsonSignature(value, userId, `ed25519:${deviceId}`, signer.key)) {
        throw invalidSignature(`${what} ${id} is not signed by the device's ed25519 key`);
      }
    } else if (algorithm === "curve25519" && typeof value !== "string") {
      throw new MatrixError(400, "M_INVALID_PARAM", `${what} ${id}: must be a key string`);
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
