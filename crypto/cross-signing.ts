import type { Kysely } from "kysely";
import type { z } from "zod";
import { forbidden, MatrixError, missingParam } from "../companion-services/platform/errors.ts";
import { canonicalJson, signedPart } from "./canonical-json.ts";
import { entry } from "./collections.ts";
import type { KeyType, StoredCrossSigningKey, StoredSignature } from "./cross-signing.repository.ts";
import type { KeyServer } from "./key-server.ts";
import { invalidSignature } from "./key-validation.ts";
import type { crossSigningKeySchema } from "./schemas.ts";
import { ed25519Key, verifyJsonSignature } from "./signing.ts";
import type { CryptoTables, JsonObject } from "./tables.ts";

type CrossSigningKeyInput = z.infer<typeof crossSigningKeySchema>;
export type DeviceSigningUpload = Partial<Record<`${KeyType}_key`, CrossSigningKeyInput>>;

const TYPES: KeyType[] = ["master", "self_signing", "user_signing"];

/** Parses one cross-signing key: for the caller, with the right usage and exactly one ed25519 key. */
function parseKey(userId: string, type: KeyType, key: CrossSigningKeyInput): StoredCrossSigningKey {
  if (key.user_id !== userId)
    throw new MatrixError(400, "M_INVALID_PARAM", `${type}_key.user_id must be ${userId}`);
  if (!key.usage.includes(type))
    throw new MatrixError(400, "M_INVALID_PARAM", `${type}_key.usage must include ${type}`);
  const entries = Object.entries(key.keys);
  const [id, value] = entries[0] ?? [];
  if (entries.length !== 1 || !id || id !== `ed25519:${value}` || !value || !ed25519Key(value)) {
    throw new MatrixError(
      400,
      "M_INVALID_PARAM",
      `${type}_key.keys must hold one ed25519 key: {"ed25519:<key>": "<key>"}`,
    );
  }
  const { unsigned: _u, ...stored } = key;
  return { userId, type, publicKey: value, key: stored };
}

/**
 * Validates a /keys/device_signing/upload body and reports whether it changes anything stored
 * (the first upload and an identical re-upload need no User-Interactive Auth).
 */
export async function prepareDeviceSigning(
  keys: KeyServer,
  userId: string,
  body: DeviceSigningUpload,
): Promise<{ upload: StoredCrossSigningKey[]; needsAuth: boolean }> {
  const upload = TYPES.filter((t) => body[`${t}_key`]).map((t) => parseKey(userId, t, body[`${t}_key`]!));
  const stored = await keys.crossSigningKeys(userId);
  const master = upload.find((k) => k.type === "master") ?? stored.get("master");
  if (!master) throw missingParam("master_key is required: no master key is stored");
  for (const k of upload) {
    if (k.type === "master") continue;
    if (!verifyJsonSignature(k.key, userId, `ed25519:${master.publicKey}`, ed25519Key(master.publicKey)!)) {
      throw invalidSignature(`${k.type}_key is not signed by the master key`);
    }
  }
  const deviceIds = new Set((await keys.devices.deviceIds([userId])).map((d) => d.deviceId));
  for (const k of upload) {
    if (deviceIds.has(k.publicKey)) throw forbidden(`${k.type} key collides with a device id`);
  }
  const changes = upload.filter((k) => {
    const old = stored.get(k.type);
    return !old || canonicalJson(old.key) !== canonicalJson(k.key);
  });
  return { upload: changes, needsAuth: stored.has("master") && changes.length > 0 };
}

/** Stores validated cross-signing keys; signatures made or held by replaced keys go with them. */
export async function storeDeviceSigning(
  keys: KeyServer,
  userId: string,
  upload: StoredCrossSigningKey[],
): Promise<void> {
  if (upload.length === 0) return;
  const publicChange = upload.some((k) => k.type !== "user_signing");
  await keys.writeWithChanges(async (db) => {
    const stored = await keys.crossSigningKeys(userId, db);
    for (const k of upload) {
      const old = stored.get(k.type);
      if (old && old.publicKey !== k.publicKey) {
        await keys.crossSigning.deleteSignaturesBy(db, userId, `ed25519:${old.publicKey}`);
        if (k.type === "master") await keys.crossSigning.deleteSignaturesOn(db, userId, old.publicKey);
      }
      await keys.crossSigning.setKey(db, k);
    }
    // Master/self-signing keys concern everyone sharing a room; a user-signing key only its owner.
    return publicChange
      ? { result: undefined, changed: [userId] }
      : { result: undefined, changedFor: { userIds: [userId], viewer: userId } };
  });
}

type Failure = { errcode: string; error: string };

/**
 * POST /keys/signatures/upload: each signed object must equal the stored key apart from its
 * signatures, and the new signature must verify with the right key: one's own devices by one's
 * self-signing key, one's master key by one's devices, other users' master keys by one's
 * user-signing key. One bad item fails only itself.
 */
export async function uploadSignatures(
  keys: KeyServer,
  signer: string,
  body: Record<string, Record<string, unknown>>,
): Promise<{ failures: Record<string, Record<string, Failure>> }> {
  const failures: Record<string, Record<string, Failure>> = {};
  const fail = (u: string, k: string, errcode: string, error: string) => {
    entry(failures, u, () => ({}))[k] = { errcode, error };
  };
  const mine = await keys.crossSigningKeys(signer);
  const accepted: StoredSignature[] = [];
  const selfChanged = new Set<string>();
  const othersChanged = new Set<string>();
  for (const [targetUser, objects] of Object.entries(body)) {
    const targetKeys = targetUser === signer ? mine : await keys.crossSigningKeys(targetUser);
    const targetMaster = targetKeys.get("master");
    for (const [keyId, raw] of Object.entries(objects)) {
      if (raw === null || typeof raw !== "object" || Array.isArray(raw)) {
        fail(targetUser, keyId, "M_INVALID_PARAM", "signed object must be a JSON object");
        continue;
      }
      const obj = raw as JsonObject;
      let stored: JsonObject | null = null;
      let signingKeys: { keyId: string; publicKey: string }[] = [];
      if (targetUser === signer && targetMaster?.publicKey === keyId) {
        // One's own master key, signed by one's devices.
        stored = targetMaster.key;
        const sigs = (obj.signatures as Record<string, Record<string, string>> | undefined)?.[signer] ?? {};
        for (const sigKeyId of Object.keys(sigs)) {
          if (!sigKeyId.startsWith("ed25519:") || sigKeyId === `ed25519:${keyId}`) continue;
          const dev = await keys.devices.get(signer, sigKeyId.slice(8));
          const devKey = (dev?.deviceKeys?.keys as Record<string, string> | undefined)?.[sigKeyId];
          // A device key string that is no Ed25519 key (they are opaque on upload) signs nothing.
          if (devKey && ed25519Key(devKey)) signingKeys.push({ keyId: sigKeyId, publicKey: devKey });
        }
      } else if (targetUser === signer) {
        // One's own device, signed by one's self-signing key.
        const dev = await keys.devices.get(signer, keyId);
        if (!dev?.deviceKeys) {
          fail(targetUser, keyId, "M_NOT_FOUND", "Unknown device");
          continue;
        }
        stored = dev.deviceKeys;
        const ssk = mine.get("self_signing");
        if (ssk) signingKeys = [{ keyId: `ed25519:${ssk.publicKey}`, publicKey: ssk.publicKey }];
      } else {
        // Another user's master key, signed by one's user-signing key.
        if (!targetMaster || targetMaster.publicKey !== keyId) {
          fail(targetUser, keyId, "M_NOT_FOUND", "Unknown master key");
          continue;
        }
        stored = targetMaster.key;
        const usk = mine.get("user_signing");
        if (usk) signingKeys = [{ keyId: `ed25519:${usk.publicKey}`, publicKey: usk.publicKey }];
      }
      if (canonicalJson(signedPart(obj)) !== canonicalJson(signedPart(stored))) {
        fail(targetUser, keyId, "M_INVALID_PARAM", "Signed object does not match the stored key");
        continue;
      }
      let ok = 0;
      for (const k of signingKeys) {
        if (verifyJsonSignature(obj, signer, k.keyId, ed25519Key(k.publicKey)!)) {
          const sig = (obj.signatures as Record<string, Record<string, string>>)[signer]![k.keyId]!;
          accepted.push({
            signerUserId: signer,
            signerKeyId: k.keyId,
            targetUserId: targetUser,
            targetKeyId: keyId,
            signature: sig,
          });
          ok++;
        }
      }
      if (ok === 0) {
        fail(
          targetUser,
          keyId,
          "M_INVALID_SIGNATURE",
          signingKeys.length ? "Invalid signature" : "No key to check the signature with",
        );
        continue;
      }
      if (targetUser === signer) selfChanged.add(signer);
      else othersChanged.add(targetUser);
    }
  }
  if (accepted.length > 0) {
    await keys.writeWithChanges(async (db: Kysely<CryptoTables>, position) => {
      await keys.crossSigning.addSignatures(db, accepted);
      // A signature on another user's master key is news only to the signer.
      if (othersChanged.size > 0) await keys.lists.recordChange(db, position, [...othersChanged], signer);
      return { result: undefined, changed: [...selfChanged], changedFor: { userIds: [], viewer: signer } };
    });
  }
  return { failures };
}
